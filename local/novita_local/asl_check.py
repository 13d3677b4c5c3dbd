"""Render a state machine definition for the ASL validators: every ``${Name}`` becomes a value.

``python -m novita_local.asl_check statemachine/startup.asl.json`` prints the definition with its
``DefinitionSubstitutions`` replaced, so asl-validator / statelint can check it as JSON. When a
``template.yaml`` above the file wires it (``DefinitionUri``), the values are the ones the local
engine uses; any other name gets a syntactically valid placeholder of the service its name suggests
(``...FunctionArn`` -> a Lambda ARN, ``...QueueUrl`` -> an SQS URL, ...). Exit status 2 and a message
naming the file when it cannot be read or is not valid JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from novita_local.engine.resolve import TemplateResolutionError
from novita_local.engine.wiring import AwsPlace, TemplateWiring, substitute_definition, substitution_names
from novita_local.template import load_template

_PLACE = AwsPlace()


def placeholder_for(name: str) -> str:
    """A syntactically valid value for a substitution, chosen from what its name says it is."""
    p, region, account = _PLACE.partition, _PLACE.region, _PLACE.account_id
    resource = f"local-{name}"
    lowered = name.lower()
    wants_arn = lowered.endswith("arn")
    if "statemachine" in lowered:
        return f"arn:{p}:states:{region}:{account}:stateMachine:{resource}"
    if "queue" in lowered:
        if wants_arn:
            return f"arn:{p}:sqs:{region}:{account}:{resource}"
        return f"https://sqs.{region}.amazonaws.com/{account}/{resource}"
    if "table" in lowered:
        return f"arn:{p}:dynamodb:{region}:{account}:table/{resource}" if wants_arn else resource
    if "bus" in lowered:
        return f"arn:{p}:events:{region}:{account}:event-bus/{resource}" if wants_arn else resource
    if "topic" in lowered:
        return f"arn:{p}:sns:{region}:{account}:{resource}"
    if "secret" in lowered:
        return f"arn:{p}:secretsmanager:{region}:{account}:secret:{resource}"
    if "function" in lowered or "lambda" in lowered or wants_arn:
        return f"arn:{p}:lambda:{region}:{account}:function:{resource}"
    return resource


def find_template(definition: Path) -> Path | None:
    for directory in definition.resolve().parents:
        candidate = directory / "template.yaml"
        if candidate.is_file():
            return candidate
    return None


def template_substitutions(definition: Path, template_path: Path) -> dict[str, str]:
    """The engine's values for the state machine(s) of the template whose DefinitionUri is this file."""
    wiring = TemplateWiring(load_template(template_path), template_path.parent)
    values: dict[str, str] = {}
    for logical_id in wiring.state_machine_ids():
        if wiring.definition_path(logical_id) != definition.resolve():
            continue
        for key, value in (wiring.properties(logical_id).get("DefinitionSubstitutions") or {}).items():
            try:
                values[key] = wiring.intrinsics.resolve_str(
                    value, f"{logical_id}.DefinitionSubstitutions.{key}"
                )
            except TemplateResolutionError:
                continue  # falls back to a placeholder
    return values


def render(definition: Path, template_path: Path | None) -> str:
    text = definition.read_text(encoding="utf-8")
    values = template_substitutions(definition, template_path) if template_path else {}
    for name in substitution_names(text):
        values.setdefault(name, placeholder_for(name))
    rendered = substitute_definition(text, values, str(definition))
    return json.dumps(json.loads(rendered), indent=2)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m novita_local.asl_check",
        description="Print a state machine definition with its ${Substitutions} replaced by valid values.",
    )
    parser.add_argument("definition", type=Path, help="an Amazon States Language file (*.asl.json)")
    parser.add_argument(
        "--template", type=Path, help="the SAM template (default: the nearest template.yaml above)"
    )
    args = parser.parse_args(argv)
    definition: Path = args.definition
    try:
        template_path = args.template or find_template(definition)
        if template_path is not None and not template_path.is_file():
            print(f"{definition}: no template at {template_path}", file=sys.stderr)
            return 2
        print(render(definition, template_path))
    except OSError as exc:
        print(f"{definition}: cannot read the definition: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except json.JSONDecodeError as exc:
        print(
            f"{definition}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}", file=sys.stderr
        )
        return 2
    except TemplateResolutionError as exc:
        print(f"{definition}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
