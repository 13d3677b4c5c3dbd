"""The EventBridge trigger: the Step Functions client, the operations table, the store of a create's
environment values and the webhook URL policy."""

from __future__ import annotations

from novita_orchestrator.api.starter import WorkflowStarter
from novita_orchestrator.api.trigger import StartTriggerDeps
from novita_orchestrator.deps import Aws, clock_of, env_values_store, operations_store
from novita_orchestrator.settings import StartTriggerSettings
from novita_orchestrator.webhooks.url_guard import UrlPolicy


def start_trigger_deps(settings: StartTriggerSettings) -> StartTriggerDeps:
    aws = Aws()
    return StartTriggerDeps(
        starter=WorkflowStarter(
            aws.client("stepfunctions"),
            settings.STATE_MACHINE_ARN,
            settings.STOP_STATE_MACHINE_ARN,
            operations=operations_store(settings, aws),
            env_values=env_values_store(settings, aws),
            clock=clock_of(settings),
        ),
        url_policy=UrlPolicy.from_settings(settings),
    )
