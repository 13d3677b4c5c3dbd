"""Check the settings a local command hands the functions before it starts anything.

On AWS a bad variable fails the function at init (its settings model); on the embedded stack that
would surface minutes later as an ``INTERNAL`` outcome, or as webhooks that never leave the queue.
So ``start``, ``create``, ``serve`` and ``demo`` validate every function's settings model against
the variables they pass through first, and exit 2 naming the variable.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ValidationError

from novita_local.template import load_template, resources_of_type
from novita_orchestrator.settings import FUNCTION_SETTINGS, ConfigurationError, describe_problems
from novita_orchestrator.webhooks.secrets import parse_signing_secrets

# What the template wires on the engine (tables, queues, the state machines, the generated secrets:
# every variable a function's Environment sets from !Ref, !GetAtt or !Sub): stand-ins, so that only
# the variables a user sets are judged here.
_STAND_INS = {
    "_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:local",
    "_URL": "http://localhost/queue/local",
}


def _wired_by_the_template() -> dict[str, str]:
    template = load_template()
    environments = [((template.get("Globals") or {}).get("Function") or {}).get("Environment") or {}]
    for function in resources_of_type(template, "AWS::Serverless::Function").values():
        environments.append((function.get("Properties") or {}).get("Environment") or {})
    wired: dict[str, str] = {}
    for environment in environments:
        for name, value in (environment.get("Variables") or {}).items():
            if isinstance(value, dict):  # an intrinsic: the template's own resource
                wired[name] = next((v for end, v in _STAND_INS.items() if name.endswith(end)), "local")
    return wired


def settings_problems(variables: Mapping[str, str]) -> list[str]:
    """``NAME: what is wrong`` for each bad variable (values never shown), each problem once."""
    values = {**_wired_by_the_template(), **{k: v for k, v in variables.items() if v != ""}}
    problems: list[str] = []
    for model in FUNCTION_SETTINGS.values():
        try:
            model(**{name: values[name] for name in model.model_fields if name in values})
        except ValidationError as exc:
            for problem in describe_problems(exc).split("; "):
                if problem not in problems:
                    problems.append(problem)
    secret = variables.get("WEBHOOK_SIGNING_SECRET", "")
    if secret:
        try:
            parse_signing_secrets(secret, "WEBHOOK_SIGNING_SECRET")
        except ConfigurationError as error:
            problems.append(str(error))
    return problems
