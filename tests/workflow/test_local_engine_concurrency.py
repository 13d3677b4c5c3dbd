"""Concurrent executions: each handler call gets its own function's environment, calls run at the same
time (no process-wide lock), os.environ is left alone for every other thread, and a conditional
DynamoDB write stays atomic among them, as on AWS."""

from __future__ import annotations

import os
import threading
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from novita_local.engine import LocalEngine

pytestmark = pytest.mark.workflow

FIXTURE_TEMPLATE = Path(__file__).parent / "fixtures" / "local_engine" / "template.yaml"
EXECUTIONS = 8
ROUNDS = 12  # alpha + beta calls per round: 8 * 12 * 2 handler calls in all
EXECUTION_TIMEOUT = 120.0


def _iterate_the_environment(snapshot: dict[str, str]) -> Callable[[], None]:
    def check() -> None:
        # What other threads do all the time: copy the environment, walk it, look up proxies from it.
        # Nothing the engine does to run a handler shows here.
        assert dict(os.environ) == snapshot, "os.environ changed while handlers ran"
        list(os.environ.items())
        urllib.request.getproxies()

    return check


def _create_a_client() -> None:
    boto3.client("sqs")  # resolves the region and credentials from the environment


def _keep_doing(action: Callable[[], None], stop: threading.Event, errors: list[BaseException]) -> None:
    while not stop.is_set():
        try:
            action()
        except BaseException as exc:  # any error a caller would see is what this test is about
            errors.append(exc)
            return


def _own_environment(engine: LocalEngine, probe: str) -> dict[str, Any]:
    function = "ProbeAlphaFunction" if probe == "alpha" else "ProbeBetaFunction"
    return {
        "PROBE_NAME": probe,
        "ALPHA_ONLY": "only alpha sees this" if probe == "alpha" else None,
        "BETA_ONLY": "only beta sees this" if probe == "beta" else None,
        "GREETING": "hello from the template",
        "TABLE_NAME": None,  # the echo and worker functions' variable
        "AWS_LAMBDA_FUNCTION_NAME": engine.resource_name(function),
    }


def _most_at_once(calls: list[dict[str, float]]) -> int:
    """The most handler calls that were running at the same moment."""
    edges = sorted([(c["startedAt"], 1) for c in calls] + [(c["endedAt"], -1) for c in calls])
    running = most = 0
    for _, change in edges:
        running += change
        most = max(most, running)
    return most


def test_concurrent_executions_see_their_own_environment_and_run_at_the_same_time():
    errors: list[BaseException] = []
    stop = threading.Event()
    with LocalEngine(FIXTURE_TEMPLATE, wait_scale=0.0) as engine:
        readers = [
            threading.Thread(target=_keep_doing, args=(action, stop, errors), daemon=True)
            for action in (_iterate_the_environment(dict(os.environ)), _create_a_client)
        ]
        for reader in readers:
            reader.start()
        try:
            arns = [
                engine.start_execution("ProbeStateMachine", {"roundsLeft": ROUNDS, "seen": []})
                for _ in range(EXECUTIONS)
            ]
            outcomes = [engine.wait_for_execution(arn, timeout=EXECUTION_TIMEOUT) for arn in arns]
        finally:
            stop.set()
            for reader in readers:
                reader.join(timeout=30)

        assert errors == []
        assert [outcome["status"] for outcome in outcomes] == ["SUCCEEDED"] * EXECUTIONS, outcomes
        expected = [_own_environment(engine, probe) for probe in ("alpha", "beta")] * ROUNDS
        for outcome in outcomes:
            assert outcome["output"]["seen"] == expected
        calls = [call for outcome in outcomes for call in outcome["output"]["calls"]]
        assert len(calls) == EXECUTIONS * ROUNDS * 2
        # Handlers of different executions ran at once: nothing serialises them.
        assert _most_at_once(calls) >= 2
        # ... and each function was loaded once (one container), however many first calls raced.
        assert len({call["container"] for call in calls}) == 2


def test_a_function_variable_never_reaches_os_environ():
    with LocalEngine(FIXTURE_TEMPLATE, wait_scale=0.0) as engine:
        arn = engine.start_execution("ProbeStateMachine", {"roundsLeft": 1, "seen": []})
        assert engine.wait_for_execution(arn)["status"] == "SUCCEEDED"

        assert "PROBE_NAME" not in os.environ
        assert not os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        assert os.environ["AWS_REGION"] == os.environ["AWS_DEFAULT_REGION"] == "us-east-1"


def test_stop_restores_the_environment_from_before_start(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GREETING", "from the shell")  # a function variable the process already had
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "")  # the mocked credentials replace an empty one
    monkeypatch.delenv("AWS_REGION", raising=False)
    before = dict(os.environ)

    with LocalEngine(FIXTURE_TEMPLATE, wait_scale=0.0) as engine:
        arn = engine.start_execution("ProbeStateMachine", {"roundsLeft": 1, "seen": []})
        outcome = engine.wait_for_execution(arn)
        assert os.environ["GREETING"] == "from the shell"  # the process keeps its own value

    assert outcome["status"] == "SUCCEEDED"
    assert outcome["output"]["seen"][0]["GREETING"] == "hello from the template"
    assert dict(os.environ) == before


def test_conditional_writes_stay_atomic_while_handlers_run_concurrently():
    # What the shared limiter, the breaker and the locks rely on: of callers racing to move one item
    # from version n to n + 1, exactly one wins each version (moto alone lets two win now and then).
    with LocalEngine(FIXTURE_TEMPLATE, wait_scale=0.0) as engine:
        dynamodb = engine.boto_client("dynamodb")
        dynamodb.create_table(
            TableName="race",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        key = {"pk": {"S": "item"}}
        dynamodb.put_item(TableName="race", Item={**key, "version": {"N": "0"}})
        wins: list[str] = []

        def race() -> None:
            for _ in range(40):
                seen = dynamodb.get_item(TableName="race", Key=key, ConsistentRead=True)["Item"]["version"][
                    "N"
                ]
                try:
                    dynamodb.update_item(
                        TableName="race",
                        Key=key,
                        UpdateExpression="SET version = :next",
                        ConditionExpression="version = :seen",
                        ExpressionAttributeValues={":next": {"N": str(int(seen) + 1)}, ":seen": {"N": seen}},
                    )
                except dynamodb.exceptions.ConditionalCheckFailedException:
                    continue
                wins.append(seen)

        racers = [threading.Thread(target=race) for _ in range(16)]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join()
        final = dynamodb.get_item(TableName="race", Key=key, ConsistentRead=True)["Item"]["version"]["N"]

    assert sorted(wins, key=int) == [str(n) for n in range(int(final))]  # each version won once
