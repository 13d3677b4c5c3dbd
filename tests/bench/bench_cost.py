"""Cost per startup, from counts measured in this run and AWS's unit prices (``tests/support/aws_prices.py``).

* ``cost.per_startup_usd.typical``: the mean startup of ``load.realistic`` (200 at once, boots of
  30-120 s, shared status reads): its transitions (each execution's history), Lambda invocations and
  handler seconds (at the template's 256 MB), DynamoDB request units (estimated from the bytes each
  call moved), SQS requests and EventBridge events (the calls the state machine made), one API request.
* ``cost.per_startup_usd.worst_case``: the longest startup the default timeout (1800 s) allows — the
  instance runs at once, its app answers only just before the deadline, probed every 2 s for half an
  hour: the polling model walks the real state machine for its transitions and invocations, each
  function's invocation costing what it cost in the realistic run; once with probes refused at once
  (most probes) and once with probes that hang for the 5 s probe timeout (longest invocations): the
  dearer of the two.
* ``cost.usage.<case>``: the counts behind each, ``cost.bill_usd.<case>``: the bill by service.

Webhook delivery is estimated, not measured here: per notification one SendMessage (counted), one
receive and one delete, and one dispatcher invocation of 0.2 s.
"""

from __future__ import annotations

import json
import statistics
from typing import Any

from tests.bench.bench_load import measured
from tests.support.aws_prices import PRICES_AS_OF, PRICES_REGION, Usage
from tests.support.load import LoadResult
from tests.support.polling_model import ModelSettings, Outcome, Policy, Startup, load_definition, run_startup

FUNCTION_MEMORY_GB = 256 / 1024
TIMEOUT_SECONDS = 1800.0
PROBE_TIMEOUT_SECONDS = 5.0
#: Webhook delivery per notification (estimated): receive + delete, and a dispatcher invocation.
SQS_REQUESTS_PER_DELIVERY = 2
DISPATCHER_SECONDS = 0.2
#: Lambda states of the workflow -> the function each invokes.
FUNCTION_OF_STATE = {
    "ResolveTarget": "ResolveTargetFunction",
    "LaunchInstance": "LaunchInstanceFunction",
    "PollStatus": "PollStatusFunction",
    "CheckHealth": "CheckHealthFunction",
    "FinishReady": "FinishOperationFunction",
    "FinishFailed": "FinishOperationFunction",
}


def run() -> dict[str, object]:
    load = measured("realistic")
    typical = typical_usage(load)
    worst = max(
        (worst_case_usage(load, probe_seconds) for probe_seconds in (0.5, PROBE_TIMEOUT_SECONDS)),
        key=lambda usage: usage.bill()["total"],
    )
    return {
        "cost": {
            "per_startup_usd": {"typical": typical.bill()["total"], "worst_case": worst.bill()["total"]},
            "bill_usd": {"typical": typical.bill(), "worst_case": worst.bill()},
            "usage": {"typical": typical.as_json(), "worst_case": worst.as_json()},
            "prices": f"{PRICES_REGION}, {PRICES_AS_OF}",
        }
    }


def typical_usage(load: LoadResult) -> Usage:
    meter = load.meter
    assert meter is not None
    ops = load.operations
    invocations = sum(len(times) for times in meter.handler_seconds.values())
    workflow_seconds = sum(sum(times) for times in meter.handler_seconds.values())
    notifications = meter.calls[("sqs", "SendMessage")] / ops
    return Usage(
        transitions=load.transitions / ops,
        lambda_requests=invocations / ops + notifications,
        lambda_gb_seconds=(workflow_seconds / ops + notifications * DISPATCHER_SECONDS) * FUNCTION_MEMORY_GB,
        dynamodb_read_units=meter.read_units / ops,
        dynamodb_write_units=meter.write_units / ops,
        sqs_requests=notifications * (1 + SQS_REQUESTS_PER_DELIVERY),
        eventbridge_events=meter.calls[("events", "PutEvents")] / ops,
        api_requests=1.0,
    )


def worst_case_usage(load: LoadResult, probe_seconds: float) -> Usage:
    """The app answering just before the deadline, each probe taking ``probe_seconds``."""
    meter = load.meter
    assert meter is not None
    startup = Startup(boot_seconds=5.0, warmup_seconds=TIMEOUT_SECONDS - 30.0)
    settings = ModelSettings(
        timeout_seconds=TIMEOUT_SECONDS, lambda_seconds_by_state={"CheckHealth": probe_seconds}
    )
    outcome = run_startup(load_definition(), startup, Policy(_default_bounds(), use_history=False), settings)
    by_function = _invocations_by_function(outcome)
    seconds = 0.0
    read_units = write_units = 0.0
    for function, count in by_function.items():
        times = meter.handler_seconds.get(function) or [0.0]
        per_call = probe_seconds if function == "CheckHealthFunction" else statistics.fmean(times)
        seconds += count * per_call
        units = meter.units_by_function.get(function, [0.0, 0.0])
        read_units += count * units[0] / len(times)
        write_units += count * units[1] / len(times)
    notifications = 4  # initiated, running, health check started, completed
    return Usage(
        transitions=outcome.transitions,
        lambda_requests=sum(by_function.values()) + notifications,
        lambda_gb_seconds=(seconds + notifications * DISPATCHER_SECONDS) * FUNCTION_MEMORY_GB,
        dynamodb_read_units=read_units,
        dynamodb_write_units=write_units,
        sqs_requests=notifications * (1 + SQS_REQUESTS_PER_DELIVERY),
        eventbridge_events=1.0,
        api_requests=1.0,
    )


def _invocations_by_function(outcome: Outcome) -> dict[str, int]:
    counts: dict[str, int] = {}
    for state in outcome.states:
        function = FUNCTION_OF_STATE.get(state)
        if function is not None:
            counts[function] = counts.get(function, 0) + 1
    return counts


def _default_bounds() -> Any:
    from novita_orchestrator.settings import PollStatusSettings
    from novita_orchestrator.workflow.polling import PollBounds

    defaults = PollStatusSettings.model_fields
    return PollBounds(defaults["POLL_MIN_SECONDS"].default, defaults["POLL_MAX_SECONDS"].default)


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
