"""What the reliability tests check on every case, and the report they write.

* :func:`nothing_lost` — every accepted operation ended in exactly one terminal state, its terminal
  notification was delivered to the webhook or parked in the dead-letter queue, no instance was
  created twice, and Novita got no more start / create POSTs than the client's policy allows.
* :class:`Emitted` — everything the service emitted (logs, execution histories, queue messages,
  webhook bodies, DynamoDB items, API responses), and :func:`secret_findings` over it.
* :class:`MatrixRow` / :func:`render_matrix` — the table of ``docs/RELIABILITY.md``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from novita_local.engine import LocalEngine
from novita_local.operations import Operation
from novita_local.simulator import Simulator
from novita_orchestrator.workflow.notifications import AUTOSTOP_PENDING, TERMINAL_TYPES, outcomes_of
from tests.support.receiver import Receiver

#: Names the default seed gives to more than one instance on purpose.
SEEDED_DUPLICATE_NAMES = frozenset({"twin"})


# --- nothing lost --------------------------------------------------------------------------------


@dataclass(frozen=True)
class OperationOutcome:
    """One operation as the checks saw it (a row of the report is made of these)."""

    operation_id: str
    status: str
    code: str | None
    notifications: list[str]
    terminal_event_id: str
    delivery: str  # "delivered" | "dead-lettered"
    start_posts: int
    create_posts: int
    post_bound: int


def _launch_invocations(engine: LocalEngine, operation_id: str) -> int:
    return sum(
        1
        for call in engine.invocations("LaunchInstanceFunction")
        if isinstance(call.event, dict) and call.event.get("operationId") == operation_id
    )


def _terminal_delivery(
    engine: LocalEngine, receiver: Receiver | None, event_id: str, *, webhook_url: str | None
) -> str:
    """Where the terminal notification went: delivered (2xx) or parked in the DLQ; else AssertionError."""
    delivered = receiver is not None and any(
        request.header("webhook-id") == event_id and 200 <= request.answered < 300
        for request in receiver.requests()
    )
    parked = any(
        (json.loads(message.body).get("event") or {}).get("id") == event_id
        for message in engine.queue_messages("WebhookDeadLetterQueue")
    )
    assert not (delivered and parked), f"{event_id} was both delivered and dead-lettered"
    if delivered:
        return "delivered"
    if parked:
        return "dead-lettered"
    still_queued = any(
        (json.loads(message.body).get("event") or {}).get("id") == event_id
        for message in engine.queue_messages("WebhookQueue")
    )
    raise AssertionError(
        f"terminal notification {event_id} (webhook {webhook_url}) was neither delivered nor dead-lettered"
        + (" (still on the webhook queue)" if still_queued else " (LOST)")
    )


def nothing_lost(
    engine: LocalEngine,
    simulator: Simulator,
    operations: Sequence[Operation],
    *,
    receiver: Receiver | None,
    max_attempts: int,
) -> list[OperationOutcome]:
    """Assert the four promises for every operation; return what was seen, for the report."""
    outcomes: list[OperationOutcome] = []
    start_posts = Counter(
        str((entry.get("body") or {}).get("instanceId"))
        for entry in simulator.admin.journal(path="/gpu/instance/start", method="POST")
    )
    create_posts = Counter(
        str((entry.get("body") or {}).get("name"))
        for entry in simulator.admin.journal(path="/gpu/instance/create", method="POST")
    )
    for operation in operations:
        execution = engine.describe_execution(operation.execution_arn)
        assert execution["status"] in {"SUCCEEDED", "FAILED"}, (operation.operation_id, execution)
        record = operation.record or {}
        ends = outcomes_of(operation.request.kind)
        assert record.get("status") in {ends.success_status, "failed"}, (operation.operation_id, record)
        succeeded = record["status"] == ends.success_status
        assert execution["status"] == ("SUCCEEDED" if succeeded else "FAILED"), (record, execution)
        # The lease's warning names the start that set the lease; it is no step of that operation.
        types = [t for t in operation.notification_types() if t != AUTOSTOP_PENDING]
        terminal = [n for n in operation.notifications if n.type in TERMINAL_TYPES]
        assert len(terminal) == 1, f"{operation.operation_id}: terminal notifications {types}"
        assert types[-1] == terminal[0].type, types
        wanted = ends.completed if succeeded else ends.failed
        assert terminal[0].type == wanted, (record["status"], types)
        assert record.get("notifications") == types, (record.get("notifications"), types)
        event_id = str(terminal[0].event["id"])
        delivery = _terminal_delivery(engine, receiver, event_id, webhook_url=terminal[0].webhook_url)
        launches = _launch_invocations(engine, operation.operation_id)
        instance_id = record.get("instanceId")
        name = operation.request.create.name if operation.request.create is not None else None
        outcomes.append(
            OperationOutcome(
                operation_id=operation.operation_id,
                status=str(record["status"]),
                code=(record.get("outcome") or {}).get("code"),
                notifications=types,
                terminal_event_id=event_id,
                delivery=delivery,
                start_posts=start_posts.get(str(instance_id), 0) if operation.request.start else 0,
                create_posts=create_posts.get(str(name), 0) if name else 0,
                post_bound=max_attempts * launches,
            )
        )
    # Start / create POSTs: the client sends at most max_attempts per call, and Step Functions calls
    # LaunchInstance again only after a Lambda service error. Shared instances are summed per instance.
    bound_by_target: Counter[str] = Counter()
    for operation, outcome in zip(operations, outcomes, strict=True):
        key = _post_key(operation, outcome)
        if key is not None:
            bound_by_target[key] += outcome.post_bound
    for key, bound in bound_by_target.items():
        kind, _, target = key.partition(":")
        sent = (start_posts if kind == "start" else create_posts).get(target, 0)
        assert sent <= bound, f"{sent} {kind} POSTs for {target}, policy allows {bound}"
    names = Counter(str(instance["name"]) for instance in simulator.admin.state()["instances"])
    duplicated = {name: n for name, n in names.items() if n > 1 and name not in SEEDED_DUPLICATE_NAMES}
    assert not duplicated, f"instances created twice: {duplicated}"
    return outcomes


def _post_key(operation: Operation, outcome: OperationOutcome) -> str | None:
    if operation.request.create is not None:
        return f"create:{operation.request.create.name}"
    record = operation.record or {}
    return f"start:{record['instanceId']}" if record.get("instanceId") else None


# --- what the service emitted ---------------------------------------------------------------------


@dataclass
class Emitted:
    """Text the service produced, by source (``logs``, ``history``, ``queue``, ``webhook``, ...)."""

    parts: dict[str, list[str]] = field(default_factory=dict)

    def add(self, source: str, text: str) -> None:
        if text:
            self.parts.setdefault(source, []).append(text)

    def add_json(self, source: str, value: Any) -> None:
        self.add(source, json.dumps(value, default=str))

    def sources(self) -> dict[str, int]:
        return {source: sum(len(text) for text in texts) for source, texts in self.parts.items()}


def secret_findings(emitted: Emitted, secrets: Mapping[str, str]) -> list[str]:
    """``"<secret name> in <source>"`` for each secret value found anywhere in what was emitted."""
    found: list[str] = []
    for source, texts in emitted.parts.items():
        for name, value in secrets.items():
            if any(value in text for text in texts):
                found.append(f"{name} in {source}")
    return found


def table_items(engine: LocalEngine, logical_ids: Iterable[str]) -> list[dict[str, Any]]:
    client = engine.boto_client("dynamodb")
    items: list[dict[str, Any]] = []
    for logical_id in logical_ids:
        for page in client.get_paginator("scan").paginate(TableName=engine.resource_name(logical_id)):
            items.extend(page["Items"])
    return items


# --- the report -----------------------------------------------------------------------------------


@dataclass
class MatrixRow:
    case: str
    fault: str
    expected: str
    outcome: str = ""
    notifications: str = ""
    posts: str = ""
    webhook: str = ""
    result: str = "not run"


def summarize(outcomes: Sequence[OperationOutcome]) -> dict[str, str]:
    """The report's cells for a case's operations."""

    def cell(op: OperationOutcome) -> str:
        return op.status + (f" `{op.code}`" if op.code else "")

    short = [" → ".join(t.removeprefix("instance.startup.") for t in op.notifications) for op in outcomes]
    posts = [
        f"{op.start_posts or op.create_posts} ≤ {op.post_bound}" if op.post_bound else "0" for op in outcomes
    ]
    return {
        "outcome": "; ".join(cell(op) for op in outcomes),
        "notifications": "; ".join(short),
        "posts": "; ".join(posts),
        "webhook": "; ".join(op.delivery for op in outcomes),
    }


HEADER = (
    "| Case | Fault injected | Expected | Outcome | Notifications | Start/create POSTs (≤ policy) "
    "| Terminal webhook | Result |"
)


def render_matrix(rows: Sequence[MatrixRow], *, preamble: str) -> str:
    lines = [preamble.rstrip(), "", HEADER, "|" + "---|" * 8]
    for row in rows:
        cells = [row.case, row.fault, row.expected, row.outcome, row.notifications, row.posts]
        cells += [row.webhook, row.result]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"
