"""The EventBridge trigger: the Step Functions client and the webhook URL policy."""

from __future__ import annotations

from novita_orchestrator.api.starter import WorkflowStarter
from novita_orchestrator.api.trigger import StartTriggerDeps
from novita_orchestrator.deps import Aws
from novita_orchestrator.settings import StartTriggerSettings
from novita_orchestrator.webhooks.url_guard import UrlPolicy


def start_trigger_deps(settings: StartTriggerSettings) -> StartTriggerDeps:
    return StartTriggerDeps(
        starter=WorkflowStarter(
            Aws().client("stepfunctions"), settings.STATE_MACHINE_ARN, settings.STOP_STATE_MACHINE_ARN
        ),
        url_policy=UrlPolicy.from_settings(settings),
    )
