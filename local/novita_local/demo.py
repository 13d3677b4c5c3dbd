"""``novita-orchestrator demo``: the whole service offline, in well under a minute.

A Novita simulator and the embedded engine run on a time scale (simulated seconds per real
second), so a 30-second boot takes about a second. The demo starts the exited instance ``dev-box``
by name with a two-minute auto-stop lease, creates an instance from the private-image template
``tpl-private-app`` (the registry password stays in the simulator: the workflow sends only its
``imageAuthId``), waits for the lease to run out (a warning a minute before, then the stop it
starts), and prints each operation's phases and notifications on a timeline of simulated seconds.
"""

from __future__ import annotations

import json
import secrets
from typing import Any, TextIO

from novita_local.operations import (
    Operation,
    create_request,
    follow,
    lease_stop_operation,
    local_engine,
    run_operation,
    start_request,
)
from novita_local.progress import ProgressPrinter, clock_label, describe, timeline
from novita_local.simulator import Simulator
from novita_local.webhooks import (
    VerifyingReceiver,
    deliver_notifications,
    new_signing_secret,
    with_local_webhook_defaults,
)

DEMO_TIME_SCALE = 30.0
DEMO_START_REF = "dev-box"
DEMO_TEMPLATE = "tpl-private-app"
DEMO_PRODUCT = "prod-rtx4090-24g"
# Real seconds one demo operation may take before the demo gives up (it normally needs 2-4).
OPERATION_TIMEOUT = 40.0
#: The start's auto-stop lease and the warning before it (simulated seconds: 4 s and 2 s real).
DEMO_LEASE_SECONDS = 120.0
DEMO_WARNING_SECONDS = "60"


def run_demo(*, out: TextIO, err: TextIO, as_json: bool) -> int:
    """Run the demo; the timeline goes to ``out`` (``err`` with ``as_json``, whose object goes to ``out``)."""
    api_key = "demo-key-" + secrets.token_hex(8)
    report = err if as_json else out
    printer = ProgressPrinter(err, time_scale=DEMO_TIME_SCALE)
    operations: list[Operation] = []
    verified: dict[str, bool] = {}
    signing_secret = new_signing_secret()
    # Every notification is delivered, signed, to a loopback receiver that verifies it.
    with (
        Simulator(api_key=api_key, time_scale=DEMO_TIME_SCALE) as simulator,
        VerifyingReceiver(signing_secret) as receiver,
    ):
        environment = with_local_webhook_defaults(
            {
                "NOVITA_BASE_URL": simulator.base_url,
                "NOVITA_API_KEY": api_key,
                # The simulated instances' apps and the webhook receiver listen on loopback.
                "ALLOW_PRIVATE_NETWORK_TARGETS": "true",
                "WEBHOOK_SIGNING_SECRET": signing_secret,
                "AUTO_STOP_WARNING_SECONDS": DEMO_WARNING_SECONDS,
            }
        )
        print(
            f"Novita simulator at {simulator.base_url} (time x{DEMO_TIME_SCALE:g}); embedded engine started",
            file=err,
            flush=True,
        )
        with local_engine(environment, time_scale=DEMO_TIME_SCALE) as engine:
            requests = [
                start_request(
                    DEMO_START_REF, webhook_url=receiver.url, auto_stop={"afterSeconds": DEMO_LEASE_SECONDS}
                ),
                create_request(
                    template_id=DEMO_TEMPLATE,
                    product_id=DEMO_PRODUCT,
                    name=f"demo-app-{secrets.token_hex(3)}",
                    webhook_url=receiver.url,
                ),
            ]
            for request in [*requests, None]:
                if request is None:  # the start's lease runs out: the stop it starts
                    operation = lease_stop_operation(engine, operations[0], timeout=OPERATION_TIMEOUT)
                    _report_warning(operations[0], receiver, err)
                    follow(
                        engine,
                        [operation],
                        on_notification=printer,
                        timeout=OPERATION_TIMEOUT,
                        deliver_webhooks=True,
                    )
                else:
                    operation = run_operation(
                        engine,
                        request,
                        on_notification=printer,
                        timeout=OPERATION_TIMEOUT,
                        deliver_webhooks=True,
                    )
                print(f"  -> {describe(operation)}: {operation.status}", file=err, flush=True)
                delivery = deliver_notifications(
                    engine,
                    [operation.operation_id],
                    timeout=OPERATION_TIMEOUT,
                    already_sent=operation.webhook_message_ids(),
                )
                verified[operation.operation_id] = (
                    delivery.dead_lettered == 0
                    and receiver.signatures_verified(
                        operation.operation_id, expected_events=len(operation.notifications)
                    )
                )
                print(
                    f"     {delivery.line()}; signatures verified: {verified[operation.operation_id]}",
                    file=err,
                    flush=True,
                )
                operations.append(operation)
    print("", file=report)
    print(f"Timeline ({clock_label(DEMO_TIME_SCALE)}, since each operation began)", file=report)
    for operation in operations:
        for line in timeline(operation):
            print(line, file=report)
        print("", file=report)
    if as_json:
        print(json.dumps(demo_summary(operations, verified)), file=out, flush=True)
    return 0 if all(op.ready and verified.get(op.operation_id) for op in operations) else 1


def _report_warning(started: Operation, receiver: VerifyingReceiver, err: TextIO) -> None:
    """The lease's ``instance.autostop.pending`` names the start; it arrives after its own events."""
    warned = receiver.received(started.operation_id) > len(started.notifications)
    what = "instance.autostop.pending delivered" if warned else "no instance.autostop.pending seen (yet)"
    print(
        f"  -> auto-stop lease of {started.operation_id} ran out: {what}; it starts a stop",
        file=err,
        flush=True,
    )


def demo_summary(operations: list[Operation], verified: dict[str, bool] | None = None) -> dict[str, Any]:
    return {
        "operations": [
            {
                "operationId": op.operation_id,
                "kind": op.request.kind,
                "target": op.request.target,
                "status": op.status,
                "notifications": op.notification_types(),
                "signaturesVerified": bool((verified or {}).get(op.operation_id)),
            }
            for op in operations
        ]
    }
