"""Translate ``template.yaml`` with AWS SAM's own translator: the CloudFormation a deploy creates.

What SAM makes of the template (the deployment of the API and its id, the roles of the functions,
the stages) is only visible after translation, so the tests and checks that are about a deployed
stack read this. The translator (``samtranslator``) ships with the SAM CLI, which lives in its own
venv (``.tools/sam``, ``make install``): it pins pydantic below this project's pin. So the
translation runs there, in a child process that gets the template as JSON on stdin.

Local paths are replaced first as ``sam package`` would (``CodeUri`` / ``ContentUri`` -> an S3
URI) except that a state machine's ``DefinitionUri`` is inlined as ``Definition``, so the
definition is part of the result.

``python -m novita_local.sam_translate [-p Name=Value ...] [-o out.json]`` writes the result.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from novita_local.template import PROJECT_ROOT, TEMPLATE_PATH, load_template

SAM_PYTHON = PROJECT_ROOT / ".tools" / "sam" / "bin" / "python"
ARTIFACT_BUCKET = "s3://novita-local-artifacts"
#: Pseudo parameters need a region; nothing here calls AWS.
TRANSLATION_REGION = "us-east-1"

# Runs in the SAM CLI's venv. ``now`` pins the clock: AlwaysDeploy's deployment id comes from it.
_TRANSLATOR = """
import json, sys, time
request = json.load(sys.stdin)
if request.get("now") is not None:
    time.time = lambda: float(request["now"])
from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.translator.transform import transform

class NoManagedPolicyNames:
    def load(self):
        return {}

try:
    result = transform(request["template"], request["parameters"], NoManagedPolicyNames())
except InvalidDocumentException as error:
    print("; ".join(str(cause) for cause in error.causes), file=sys.stderr)
    sys.exit(2)
json.dump(result, sys.stdout)
"""


class TranslationError(RuntimeError):
    """The template could not be translated (the message is the translator's, or says what is missing)."""


def packaged(template: Mapping[str, Any], base: Path = PROJECT_ROOT) -> dict[str, Any]:
    """The template as ``sam package`` would upload it, with state machine definitions inlined."""
    result = copy.deepcopy(dict(template))
    for resource in (result.get("Resources") or {}).values():
        properties = resource.get("Properties") or {}
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str):
                properties[key] = f"{ARTIFACT_BUCKET}/{properties[key].strip('/')}"
        definition_uri = properties.get("DefinitionUri")
        if isinstance(definition_uri, str):
            properties["Definition"] = json.loads((base / properties.pop("DefinitionUri")).read_text())
    return result


def translate(
    parameters: Mapping[str, str] | None = None,
    *,
    template_path: Path = TEMPLATE_PATH,
    now: int | None = None,
    sam_python: Path = SAM_PYTHON,
) -> dict[str, Any]:
    """The CloudFormation template SAM makes of ``template_path`` with these parameter values."""
    key = json.dumps(dict(parameters or {}), sort_keys=True)
    return copy.deepcopy(_translate(str(template_path), key, now, str(sam_python)))


@lru_cache(maxsize=16)
def _translate(template_path: str, parameters: str, now: int | None, sam_python: str) -> dict[str, Any]:
    if not Path(sam_python).is_file():
        raise TranslationError(f"the SAM CLI is not installed (no {sam_python}): run make install")
    path = Path(template_path)
    request = {
        "template": packaged(load_template(path), path.parent),
        "parameters": json.loads(parameters),
        "now": now,
    }
    environment = {**os.environ, "AWS_DEFAULT_REGION": TRANSLATION_REGION, "SAM_CLI_TELEMETRY": "0"}
    completed = subprocess.run(
        [sam_python, "-c", _TRANSLATOR],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        env=environment,
        check=False,
        timeout=120,
    )
    if completed.returncode != 0:
        message = completed.stderr.strip().splitlines()[-1:] or [f"exit status {completed.returncode}"]
        raise TranslationError(f"{template_path}: SAM could not translate the template: {message[0]}")
    translated: dict[str, Any] = json.loads(completed.stdout)
    return translated


def resources_of_type(translated: Mapping[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in (translated.get("Resources") or {}).items()
        if resource.get("Type") == resource_type
    }


def _parameter(text: str) -> tuple[str, str]:
    name, separator, value = text.partition("=")
    if not separator or not name:
        raise argparse.ArgumentTypeError(f"expected Name=Value, got {text!r}")
    return name, value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m novita_local.sam_translate",
        description="Print the CloudFormation template that AWS SAM makes of template.yaml.",
    )
    parser.add_argument("--template", type=Path, default=TEMPLATE_PATH, help="the SAM template")
    parser.add_argument(
        "-p", "--parameter", type=_parameter, action="append", default=[], help="a parameter, Name=Value"
    )
    parser.add_argument("-o", "--output", type=Path, help="write here instead of standard output")
    args = parser.parse_args(argv)
    try:
        translated = translate(dict(args.parameter), template_path=args.template)
    except (TranslationError, OSError, json.JSONDecodeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    text = json.dumps(translated, indent=1, sort_keys=True) + "\n"
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
