"""``status OP``, ``follow OP`` and ``cancel OP``: an operation held by a running API.

``start`` and ``create`` run on an embedded stack that lives only while that command runs, so their
operations cannot be looked at afterwards. These commands talk to an API that outlives them:
``novita-orchestrator serve`` (the default, ``--api http://127.0.0.1:3000``) or a deployed stack's
``ApiUrl``, through :class:`novita_orchestrator.client.OrchestratorClient` (``cancel``: the API's
``POST /operations/{id}/cancel``).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

from novita_local.cancel import left_behind
from novita_local.runtime import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, fail
from novita_orchestrator.client import (
    ApiError,
    ApiKey,
    NotFound,
    Operation,
    OrchestratorClient,
    OrchestratorError,
    TransportError,
    WaitTimeout,
)
from novita_orchestrator.steps.cancel_operation import CancelResult
from novita_orchestrator.store.operations_store import OperationRecord
from novita_orchestrator.workflow.request import OPERATION_ID_PATTERN

DEFAULT_API = "http://127.0.0.1:3000"
_DEFAULT_FOLLOW_SECONDS = 3600.0

_EPILOG = f"""\
which API: --api (default {DEFAULT_API}, where `novita-orchestrator serve` listens). Operations run by
`novita-orchestrator start|create` live only in that command's own embedded stack and are not found
here: start them through serve (POST /instances/REF/start) to look at them later.

exit status: {{codes}}

example:
  novita-orchestrator serve &          # then: curl -XPOST localhost:3000/instances/dev-box/start
  novita-orchestrator {{example}}
"""


def add_remote_commands(commands: Any) -> None:
    for name, help_text, codes, example in (
        (
            "status",
            "show an operation held by a running API (serve by default)",
            "0 shown, 1 not found or the API unreachable, 2 bad input",
            "status op-0123456789abcdef0123456789abcdef --json",
        ),
        (
            "follow",
            "re-attach to a running operation and print its progress until it ends",
            "0 ready, 1 failed (or not found), 2 bad input, 130 Ctrl-C (stops following only:"
            " the operation goes on; `cancel` stops driving it)",
            "follow op-0123456789abcdef0123456789abcdef",
        ),
        (
            "cancel",
            "stop driving an operation (the instance is left as it is)",
            "0 cancelled (or had already ended), 1 not found or the API unreachable, 2 bad input",
            "cancel op-0123456789abcdef0123456789abcdef",
        ),
    ):
        parser = commands.add_parser(
            name,
            help=help_text,
            description=help_text[0].upper() + help_text[1:] + ".",
            epilog=_EPILOG.format(codes=codes, example=example),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        parser.add_argument("operation", metavar="OP", help="operation ID (op- and 32 hex digits)")
        parser.add_argument(
            "--api", default=DEFAULT_API, metavar="URL", help=f"the API (default {DEFAULT_API})"
        )
        parser.add_argument(
            "--api-key", metavar="KEY", help="x-api-key for serve --api-key (or an API-key stack)"
        )
        parser.add_argument("--json", action="store_true", help="print JSON on stdout")
        if name == "follow":
            parser.add_argument(
                "--timeout",
                type=float,
                default=_DEFAULT_FOLLOW_SECONDS,
                metavar="S",
                help=f"stop following after S seconds (default {_DEFAULT_FOLLOW_SECONDS:.0f})",
            )
        parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    command: str = args.command
    if not re.match(OPERATION_ID_PATTERN, args.operation):
        return fail('OP: must be "op-" and 32 lowercase hex digits', command=command)
    try:
        client = OrchestratorClient(args.api, ApiKey(args.api_key) if args.api_key else None)
    except OrchestratorError as error:
        return fail(f"--api: {error}", command=command)
    try:
        if command == "status":
            return _status(client, args)
        if command == "follow":
            return _follow(client, args)
        return _cancel(client, args)
    except NotFound:
        return fail(
            f"{args.api} does not know {args.operation} (operations run by `start`/`create` live only in"
            " that command's embedded stack)",
            EXIT_FAILED,
            command=command,
        )
    except TransportError:
        return fail(
            f"cannot reach the API at {args.api}: is `novita-orchestrator serve` running?"
            " (or pass --api URL)",
            EXIT_FAILED,
            command=command,
        )
    except ApiError as error:
        return fail(f"the API answered {error}", EXIT_FAILED, command=command)


def describe_operation(operation: Operation) -> str:
    what = f"{operation.kind} {operation.target!r}" if operation.kind else "operation"
    instance = f", instance {operation.instance_id}" if operation.instance_id else ""
    line = f"{operation.operation_id}: {what}: {operation.status}, phase {operation.phase}{instance}"
    if operation.outcome is not None:
        line += f" ({operation.outcome.code}: {operation.outcome.message})"
    return line


def _status(client: OrchestratorClient, args: argparse.Namespace) -> int:
    operation = client.operation(args.operation)
    print(json.dumps(dict(operation.raw)) if args.json else describe_operation(operation), flush=True)
    return EXIT_OK


def _follow(client: OrchestratorClient, args: argparse.Namespace) -> int:
    final: Operation | None = None
    try:
        for final in client.follow(
            args.operation, timeout=args.timeout, poll_interval=1.0, not_found_grace=0
        ):
            print(describe_operation(final), file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        print(
            f"stopped following {args.operation}: it goes on running"
            f" (novita-orchestrator cancel {args.operation} stops driving it)",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    except WaitTimeout as timeout:
        print(f"still running after {args.timeout:g} s; it goes on", file=sys.stderr)
        if args.json:
            print(json.dumps(dict(timeout.operation.raw)), flush=True)
        return EXIT_FAILED
    assert final is not None
    print(json.dumps(dict(final.raw)) if args.json else describe_operation(final), flush=True)
    return EXIT_OK if final.ready else EXIT_FAILED


def _cancel(client: OrchestratorClient, args: argparse.Namespace) -> int:
    answer = client.cancel(args.operation)
    result = CancelResult(OperationRecord.from_values(dict(answer.operation.raw)), cancelled=answer.cancelled)
    if args.json:
        print(
            json.dumps({"cancelled": answer.cancelled, "operation": dict(answer.operation.raw)}), flush=True
        )
    else:
        for line in left_behind(result):
            print(line, flush=True)
    return EXIT_OK
