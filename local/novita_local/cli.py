"""The ``novita-orchestrator`` command: the simulator, the demo and single operations, offline.

``start`` and ``create`` run the real startup workflow, ``stop`` and ``delete`` the stop workflow,
on the embedded engine against the Novita API named by ``NOVITA_BASE_URL`` (e.g.
``novita-orchestrator simulator``) with ``NOVITA_API_KEY``. Progress goes to stderr; ``--json``
prints the final operation as one JSON object on stdout.
Exit status: 0 ready (stopped, deleted), 1 failed, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from novita_local.demo import run_demo
from novita_local.dlq import add_dlq_command
from novita_local.doctor import add_doctor_command, run_doctor
from novita_local.operations import (
    create_request,
    delete_request,
    local_engine,
    parse_envs,
    run_operation,
    start_request,
    stop_request,
)
from novita_local.progress import ProgressPrinter, describe, outcome_line
from novita_local.runtime import (
    EXIT_FAILED,
    EXIT_READY,
    BadInput,
    engine_environment,
    fail,
    handler_output_on_stderr,
)
from novita_local.serve import add_serve_command
from novita_local.simulator.server import add_simulator_command
from novita_local.webhooks import deliver_notifications, delivery_wait_seconds
from novita_orchestrator.workflow.request import OperationRequest

# Real seconds the command waits for an operation beyond its own (time-scaled) deadline.
_FOLLOW_MARGIN_SECONDS = 120.0
_DEFAULT_STARTUP_TIMEOUT = 1800.0


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="novita-orchestrator",
        description="Start or create Novita GPU instances and learn when they are really ready.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_simulator_command(commands)
    add_dlq_command(commands)
    add_serve_command(commands)
    add_doctor_command(commands).set_defaults(handler=_run_doctor)

    demo = commands.add_parser(
        "demo", help="run the end-to-end demo (simulator + embedded stack), under a minute"
    )
    demo.add_argument("--json", action="store_true", help="end with one JSON object on stdout")
    demo.add_argument("--verbose", action="store_true", help="show the functions' logs on stderr")
    demo.set_defaults(handler=_run_demo)

    start = commands.add_parser(
        "start",
        help="start an instance (ID or exact name) and wait until its app answers",
        description="Start an existing Novita instance by ID or exact name, on the embedded stack.",
    )
    start.add_argument("ref", help="instance ID or exact instance name")
    _add_common_options(start)
    _add_auto_stop_options(start)
    start.set_defaults(handler=_run_start)

    create = commands.add_parser(
        "create",
        help="create an instance from a template and wait until its app answers",
        description="Create a Novita instance from a template (private images included).",
    )
    create.add_argument("--template", required=True, metavar="ID", help="Novita template ID")
    create.add_argument("--product", required=True, metavar="ID", help="Novita product (GPU type) ID")
    create.add_argument("--name", required=True, help="name of the new instance")
    create.add_argument("--gpus", type=int, metavar="N", help="GPU count (default 1)")
    create.add_argument("--disk", type=int, metavar="GB", help="root disk size (default: the template's)")
    create.add_argument("--ports", metavar="SPEC", help='e.g. "8000/http,22/tcp" (default: the template\'s)')
    create.add_argument(
        "--env", action="append", default=[], metavar="K=V", help="environment variable (repeatable)"
    )
    _add_common_options(create)
    _add_auto_stop_options(create)
    create.set_defaults(handler=_run_create)
    _add_stop_commands(commands)
    return parser


def _add_stop_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    stop = commands.add_parser(
        "stop",
        help="stop an instance (ID or exact name) and wait until it is exited",
        description="Stop a Novita instance by ID or exact name on the embedded stack (exited: no call).",
    )
    stop.add_argument("ref", help="instance ID or exact instance name")
    _add_stop_options(stop)
    stop.set_defaults(handler=_run_stop)

    delete = commands.add_parser(
        "delete",
        help="delete an instance (repeat its name with --confirm) and wait until it is removed",
        description="Delete a Novita instance by ID or exact name; --confirm must repeat its exact name.",
    )
    delete.add_argument("ref", help="instance ID or exact instance name")
    delete.add_argument(
        "--confirm", required=True, metavar="NAME", help="the instance's exact name, repeated"
    )
    _add_stop_options(delete)
    delete.set_defaults(handler=_run_delete)


def _add_auto_stop_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--auto-stop-after", type=float, metavar="S", help="once ready, stop the instance after S seconds"
    )
    parser.add_argument(
        "--auto-stop-idle",
        type=float,
        metavar="S",
        help="once ready, stop it S seconds after the last heartbeat",
    )


def _auto_stop(args: argparse.Namespace) -> dict[str, float]:
    limits = {"afterSeconds": args.auto_stop_after, "idleSeconds": args.auto_stop_idle}
    return {name: value for name, value in limits.items() if value is not None}


def _add_stop_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--webhook-url", metavar="URL", help="where lifecycle notifications go")
    parser.add_argument("--timeout", type=float, metavar="S", help="overall timeout in seconds")
    parser.add_argument("--json", action="store_true", help="print the final operation as JSON on stdout")
    parser.add_argument("--verbose", action="store_true", help="show the functions' logs on stderr")


def _add_common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--webhook-url", metavar="URL", help="where lifecycle notifications go")
    parser.add_argument("--health-port", type=int, metavar="N", help="container port to probe")
    parser.add_argument("--health-path", metavar="P", help="HTTP path to probe (default /)")
    parser.add_argument("--timeout", type=float, metavar="S", help="overall timeout in seconds")
    parser.add_argument("--json", action="store_true", help="print the final operation as JSON on stdout")
    parser.add_argument("--verbose", action="store_true", help="show the functions' logs on stderr")


# --- commands ----------------------------------------------------------------------------------


def _run_demo(args: argparse.Namespace) -> int:
    stdout = sys.stdout
    with handler_output_on_stderr(verbose=args.verbose):
        return run_demo(out=stdout, err=sys.stderr, as_json=args.json)


def _run_doctor(args: argparse.Namespace) -> int:
    stdout = sys.stdout  # the client's logs must not mix into the report (or its --json)
    with handler_output_on_stderr(verbose=False):
        return run_doctor(args, out=stdout, err=sys.stderr)


def _run_start(args: argparse.Namespace) -> int:
    try:
        request = start_request(
            args.ref,
            webhook_url=args.webhook_url,
            health_port=args.health_port,
            health_path=args.health_path,
            timeout=args.timeout,
            auto_stop=_auto_stop(args),
        )
    except BadInput as error:
        return fail(str(error))
    return _run_operation(args, request)


def _run_create(args: argparse.Namespace) -> int:
    try:
        request = create_request(
            template_id=args.template,
            product_id=args.product,
            name=args.name,
            gpus=args.gpus,
            disk=args.disk,
            ports=args.ports,
            envs=parse_envs(args.env),
            webhook_url=args.webhook_url,
            health_port=args.health_port,
            health_path=args.health_path,
            timeout=args.timeout,
            auto_stop=_auto_stop(args),
        )
    except BadInput as error:
        return fail(str(error))
    return _run_operation(args, request)


def _run_stop(args: argparse.Namespace) -> int:
    try:
        request = stop_request(args.ref, webhook_url=args.webhook_url, timeout=args.timeout)
    except BadInput as error:
        return fail(str(error))
    return _run_operation(args, request)


def _run_delete(args: argparse.Namespace) -> int:
    try:
        request = delete_request(
            args.ref, confirm=args.confirm, webhook_url=args.webhook_url, timeout=args.timeout
        )
    except BadInput as error:
        return fail(str(error))
    return _run_operation(args, request)


def _run_operation(args: argparse.Namespace, request: OperationRequest) -> int:
    try:
        # Webhooks go through the template's dispatcher on the engine; local retries take seconds.
        shell = engine_environment()
    except BadInput as error:
        return fail(str(error))
    environment, time_scale = shell.variables, shell.time_scale
    timeout = (args.timeout or _DEFAULT_STARTUP_TIMEOUT) / time_scale + _FOLLOW_MARGIN_SECONDS
    stdout = sys.stdout
    engine_context = local_engine(environment, time_scale=time_scale)
    with handler_output_on_stderr(verbose=args.verbose), engine_context as engine:
        printer = ProgressPrinter(sys.stderr)
        operation = run_operation(engine, request, on_notification=printer, timeout=timeout)
        print(f"{describe(operation)} -> {operation.status}", file=sys.stderr, flush=True)
        delivery = None
        if request.webhook is not None:  # return only once its notifications are delivered or parked
            delivery = deliver_notifications(
                engine, [operation.operation_id], timeout=delivery_wait_seconds(environment)
            )
            print(delivery.line(), file=sys.stderr, flush=True)
            if "WEBHOOK_SIGNING_SECRET" not in environment:
                print(
                    "note: WEBHOOK_SIGNING_SECRET is not set, so this run signed with a secret of its own;"
                    " set it (whsec_...) to verify the webhooks",
                    file=sys.stderr,
                    flush=True,
                )
    if args.json:
        summary = operation.summary()
        if delivery is not None:
            summary["webhookDeliveries"] = delivery.as_json()
        print(json.dumps(summary), file=stdout, flush=True)
    else:
        print(outcome_line(operation), file=stdout, flush=True)
    return EXIT_READY if operation.ready else EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
