"""The Node.js client examples (``examples/nodejs``) under Node's own test runner, against ``serve`` on
the embedded stack: each ``test/*.test.js`` runs the scripts as a user does (child processes, real
HTTP) and reads the stack's URLs, keys and webhook secret from the environment set here.

The SigV4 signer is checked two ways: its signatures are compared with botocore's SigV4Auth for the
same requests, times and keys (vectors written here), and its requests pass an IAM gateway that
verifies them with botocore before ``serve`` sees them.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.client_kit import TIME_SCALE, ClientKitStack, client_kit_stack
from tests.support.iam_gateway import botocore_authorization

pytestmark = [pytest.mark.timeout(600), pytest.mark.integration]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "nodejs"
NODE_TESTS = sorted(path.name for path in (EXAMPLES / "test").glob("*.test.js"))
#: Real seconds a start spends ``starting`` for these files: long enough for the scripts' 2-second
#: polls to see the phase change they print.
SLOW_STARTS = {"start-instance.test.js": 3.0}


def node_binary() -> str:
    node = shutil.which("node")
    assert node, "Node.js 20+ is needed for the client examples (node is not on PATH)"
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    assert int(version.lstrip("v").split(".")[0]) >= 20, f"Node.js 20+ is needed, found {version}"
    assert (EXAMPLES / "node_modules" / "standardwebhooks").is_dir(), (
        "examples/nodejs has no node_modules: run `make install` (npm ci in examples/nodejs)"
    )
    return node


@pytest.fixture(scope="module")
def kit() -> Iterator[ClientKitStack]:
    with client_kit_stack() as stack:
        yield stack


# --- SigV4 vectors: what botocore signs for the same request, time and keys -------------------

_VECTOR_REQUESTS: list[dict[str, Any]] = [
    {"method": "GET", "url": "http://127.0.0.1:3000/health", "headers": {}, "body": ""},
    {
        "method": "POST",
        "url": "https://abc123.execute-api.us-east-1.amazonaws.com/v1/instances/dev-box/start",
        "headers": {
            "content-type": "application/json",
            "idempotency-key": "k-1",
            "accept": "application/json",
        },
        "body": '{"webhook": {"url": "https://hooks.example.com/novita"}}',
        "token": "a-session-token",
    },
    {  # a name that needs encoding: SigV4 encodes the already-encoded path once more
        "method": "GET",
        "url": "https://abc123.execute-api.us-east-1.amazonaws.com/v1/instances/caf%C3%A9%20box%2Fa~b",
        "headers": {},
        "body": "",
    },
    {  # query pairs sorted by name then value; a mixed-case header; runs of spaces collapsed
        "method": "DELETE",
        "url": "https://abc123.execute-api.us-east-1.amazonaws.com/v1/instances/x?confirm=my%20box&b=2&a=1&a=0",
        "headers": {"X-Custom-Header": "  two   words  "},
        "body": "",
    },
    {  # another region, a date boundary, an empty POST body
        "method": "POST",
        "url": "https://xyz789.execute-api.eu-west-1.amazonaws.com/prod/instances/inst-1/stop",
        "headers": {"content-type": "application/json"},
        "body": "{}",
        "region": "eu-west-1",
        "date": "2024-12-31T23:59:59Z",
    },
    {  # the trailing slash and dot segments
        "method": "GET",
        "url": "https://abc123.execute-api.us-east-1.amazonaws.com/v1/./operations/../health/",
        "headers": {},
        "body": "",
    },
]


def sigv4_vectors() -> list[dict[str, Any]]:
    vectors = []
    for case in _VECTOR_REQUESTS:
        date = case.get("date", "2026-03-04T05:06:07Z")
        amz_date = re.sub(r"[-:]", "", date)
        added = {"X-Amz-Date": amz_date}
        if case.get("token"):
            added["X-Amz-Security-Token"] = case["token"]
        authorization = botocore_authorization(
            method=case["method"],
            url=case["url"],
            headers={**case["headers"], **added},
            body=case["body"].encode(),
            access_key="vector-access-key",
            secret_key="vector/secret+key=",
            token=case.get("token"),
            region=case.get("region", "us-east-1"),
            amz_date=amz_date,
        )
        vectors.append(
            {
                **case,
                "region": case.get("region", "us-east-1"),
                "date": date,
                "credentials": {
                    "accessKeyId": "vector-access-key",
                    "secretAccessKey": "vector/secret+key=",
                    "sessionToken": case.get("token"),
                },
                "expected": {"authorization": authorization, **{k.lower(): v for k, v in added.items()}},
            }
        )
    return vectors


# --- the Node.js test files ----------------------------------------------------------------------


def tap_counts(output: str) -> dict[str, int]:
    return {name: int(count) for name, count in re.findall(r"^# (\w+) (\d+)$", output, re.MULTILINE)}


@pytest.mark.parametrize("test_file", NODE_TESTS)
def test_the_nodejs_examples(test_file: str, kit: ClientKitStack, tmp_path: Path) -> None:
    node = node_binary()
    kit.fresh()
    if test_file in SLOW_STARTS:
        kit.simulator.admin.set_config(starting=SLOW_STARTS[test_file] * TIME_SCALE)
    vectors = tmp_path / "sigv4-vectors.json"
    vectors.write_text(json.dumps(sigv4_vectors()), encoding="utf-8")
    environment = kit.node_environment() | {"SIGV4_VECTORS": str(vectors)}

    run = subprocess.run(
        [node, "--test", "--test-reporter=tap", f"test/{test_file}"],
        cwd=EXAMPLES,
        env=environment,
        capture_output=True,
        text=True,
        timeout=540,
    )

    counts = tap_counts(run.stdout)
    report = f"{run.stdout[-6000:]}\n{run.stderr[-3000:]}"
    assert run.returncode == 0, report
    assert counts.get("pass", 0) >= 1 and counts.get("fail") == 0, report
    assert counts.get("skipped", 0) == counts.get("todo", 0) == counts.get("cancelled", 0) == 0, report


def test_every_example_script_has_a_test_file() -> None:
    scripts = {path.stem for path in EXAMPLES.glob("*.js")}
    assert {name.removesuffix(".test.js") for name in NODE_TESTS} >= scripts
