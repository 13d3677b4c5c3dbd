"""The ``novita-orchestrator`` command: the simulator, the demo and single operations, offline.

``start`` and ``create`` run the real startup workflow, ``stop`` and ``delete`` the stop workflow,
on the embedded engine against the Novita API named by ``NOVITA_BASE_URL`` (e.g.
``novita-orchestrator simulator``) with ``NOVITA_API_KEY``. Progress goes to stderr; ``--json``
prints the final operation as one JSON object on stdout.
Exit status: 0 ready (stopped, deleted), 1 failed, 2 bad input.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from novita_local.demo import run_demo
from novita_local.dlq import add_dlq_command
from novita_local.doctor import add_doctor_command, run_doctor
from novita_local.foreground import run_in_foreground
from novita_local.operations import (
    create_request,
    delete_request,
    parse_envs,
    start_request,
    stop_request,
)
from novita_local.remote import add_remote_commands
from novita_local.runtime import (
    ENGINE_VARIABLES_HELP,
    EXIT_BAD_INPUT,
    EXIT_INTERRUPTED,
    EXIT_READY,
    BadInput,
    engine_environment,
    fail,
    handler_output_on_stderr,
)
from novita_local.serve import add_serve_command
from novita_local.simulator.server import add_simulator_command
from novita_local.webhooks import new_signing_secret
from novita_orchestrator.workflow.request import OperationRequest

# Real seconds the command waits for an operation beyond its own (time-scaled) deadline.
_FOLLOW_MARGIN_SECONDS = 120.0
_DEFAULT_STARTUP_TIMEOUT = 1800.0

#: What ``start --help`` and ``create --help`` end with: the variables read, exit codes, an example.
_OPERATION_EPILOG = (
    ENGINE_VARIABLES_HELP
    + """
exit status: 0 ready, 1 failed, 2 bad input (the message names the flag or variable), 130 Ctrl-C
  (Ctrl-C cancels the operation and prints the instance it may leave running, and how to stop it)

example:
  export NOVITA_BASE_URL=http://127.0.0.1:8080/gpu-instance/openapi/v1 NOVITA_API_KEY=any \\
         TIME_SCALE=30 ALLOW_PRIVATE_NETWORK_TARGETS=true
  novita-orchestrator {example}
"""
)


def _package_version() -> str:
    try:
        return version("novita-orchestrator")
    except PackageNotFoundError:
        return "unknown"


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="novita-orchestrator",
        description="Start or create Novita GPU instances and learn when they are really ready.",
        epilog="Run `novita-orchestrator COMMAND --help` for a command's options, variables and exit codes.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_package_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_simulator_command(commands)
    add_dlq_command(commands)
    add_serve_command(commands)
    add_remote_commands(commands)
    add_doctor_command(commands).set_defaults(handler=_run_doctor)

    commands.add_parser(
        "secret",
        help="print a new whsec_ webhook signing secret (for WEBHOOK_SIGNING_SECRET and receivers)",
        description="Print a new Standard Webhooks signing secret (whsec_ + 32 random bytes, base64).",
        epilog="environment: none\n\nexit status: 0\n\n"
        "example:\n  export WEBHOOK_SIGNING_SECRET=$(novita-orchestrator secret)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    ).set_defaults(handler=_run_secret)

    demo = commands.add_parser(
        "demo",
        help="run the end-to-end demo (simulator + embedded stack), under a minute",
        description="Start dev-box and create one instance from a private-image template, offline.",
        epilog="environment: none (the demo runs its own simulator, key and signing secret)\n\n"
        "exit status: 0 both operations ready and every webhook verified, 1 otherwise, 130 Ctrl-C\n\n"
        "example:\n  novita-orchestrator demo --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("--json", action="store_true", help="end with one JSON object on stdout")
    demo.add_argument("--verbose", action="store_true", help="show the functions' logs on stderr")
    demo.set_defaults(handler=_run_demo)

    start = commands.add_parser(
        "start",
        help="start an instance (ID or exact name) and wait until its app answers",
        description="Start an existing Novita instance by ID or exact name, on the embedded stack.",
        epilog=_OPERATION_EPILOG.format(example="start dev-box --json"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    start.add_argument("ref", help="instance ID or exact instance name")
    _add_common_options(start)
    _add_auto_stop_options(start)
    start.set_defaults(handler=_run_start)

    create = commands.add_parser(
        "create",
        help="create an instance from a template and wait until its app answers",
        description="Create a Novita instance from a template (private images included).",
        epilog=_OPERATION_EPILOG.format(
            example="create --template tpl-private-app --product prod-rtx4090-24g --name my-app"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    create.add_argument("--template", required=True, metavar="ID", help="Novita template ID")
    _add_product_choice(create)
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


def _add_product_choice(create: argparse.ArgumentParser) -> None:
    """``--product ID``, or ``--gpu-type`` with its failover options (create by GPU type)."""
    which = create.add_mutually_exclusive_group(required=True)
    which.add_argument("--product", metavar="ID", help="Novita product ID")
    which.add_argument(
        "--gpu-type",
        metavar="TYPE",
        help='GPU type, e.g. "RTX 4090": the cheapest deployable offer, the next one if sold out',
    )
    create.add_argument(
        "--region",
        action="append",
        default=[],
        metavar="CLUSTER",
        help="with --gpu-type: a Novita cluster ID to try, in order at equal price (repeatable)",
    )
    create.add_argument(
        "--max-price", type=float, metavar="USD", help="with --gpu-type: the most per hour for the instance"
    )
    create.add_argument(
        "--spot", action="store_true", help="with --gpu-type: spot billing (default on-demand)"
    )


def _gpu_choice(args: argparse.Namespace) -> dict[str, Any] | None:
    """The ``gpu`` part of a create from the flags; BadInput for a failover flag without --gpu-type."""
    if args.gpu_type is None:
        stray = [
            flag
            for flag, value in (
                ("--region", args.region),
                ("--max-price", args.max_price),
                ("--spot", args.spot),
            )
            if value
        ]
        if stray:
            raise BadInput(f"{', '.join(stray)}: only with --gpu-type")
        return None
    gpu: dict[str, Any] = {
        "type": args.gpu_type,
        "regions": args.region,
        "billing": "spot" if args.spot else "onDemand",
    }
    if args.max_price is not None:
        gpu["maxPricePerHour"] = args.max_price
    return gpu


def _add_stop_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    stop = commands.add_parser(
        "stop",
        help="stop an instance (ID or exact name) and wait until it is exited",
        description="Stop a Novita instance by ID or exact name on the embedded stack (exited: no call).",
        epilog=_OPERATION_EPILOG.replace("0 ready", "0 stopped").format(example="stop dev-box --json"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    stop.add_argument("ref", help="instance ID or exact instance name")
    _add_stop_options(stop)
    stop.set_defaults(handler=_run_stop)

    delete = commands.add_parser(
        "delete",
        help="delete an instance (repeat its name with --confirm) and wait until it is removed",
        description="Delete a Novita instance by ID or exact name; --confirm must repeat its exact name.",
        epilog=_OPERATION_EPILOG.replace("0 ready", "0 deleted").format(
            example="delete my-box --confirm my-box"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
    parser.add_argument(
        "--health-port", type=int, metavar="N", help="container port to probe (default: every HTTP port)"
    )
    parser.add_argument("--health-path", metavar="P", help="HTTP path to probe (default /)")
    parser.add_argument(
        "--timeout",
        type=float,
        metavar="S",
        help=f"overall timeout in seconds, health checks included (default {_DEFAULT_STARTUP_TIMEOUT:.0f}"
        ", or STARTUP_TIMEOUT_SECONDS; 10-86400)",
    )
    parser.add_argument("--json", action="store_true", help="print the final operation as JSON on stdout")
    parser.add_argument("--verbose", action="store_true", help="show the functions' logs on stderr")


# --- commands ----------------------------------------------------------------------------------


def _run_demo(args: argparse.Namespace) -> int:
    stdout = sys.stdout
    try:
        with handler_output_on_stderr(verbose=args.verbose):
            return run_demo(out=stdout, err=sys.stderr, as_json=args.json)
    except KeyboardInterrupt:
        print(
            "interrupted: the demo's instances lived in its own simulator, which stopped with it;"
            " nothing is left running",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED


def _run_secret(args: argparse.Namespace) -> int:
    print(new_signing_secret())
    return EXIT_READY


def _run_doctor(args: argparse.Namespace) -> int:
    stdout = sys.stdout  # the client's logs must not mix into the report (or its --json)
    with handler_output_on_stderr(verbose=False):
        return run_doctor(args, out=stdout, err=sys.stderr)


def _run_start(args: argparse.Namespace) -> int:
    def request(environment: Mapping[str, str]) -> OperationRequest:
        return start_request(
            args.ref,
            webhook_url=args.webhook_url,
            health_port=args.health_port,
            health_path=args.health_path,
            timeout=args.timeout,
            outbound=environment,
            auto_stop=_auto_stop(args),
        )

    return _run_operation(args, request)


def _run_create(args: argparse.Namespace) -> int:
    def request(environment: Mapping[str, str]) -> OperationRequest:
        return create_request(
            template_id=args.template,
            product_id=args.product,
            gpu=_gpu_choice(args),
            name=args.name,
            gpus=args.gpus,
            disk=args.disk,
            ports=args.ports,
            envs=parse_envs(args.env),
            webhook_url=args.webhook_url,
            health_port=args.health_port,
            health_path=args.health_path,
            timeout=args.timeout,
            outbound=environment,
            auto_stop=_auto_stop(args),
        )

    return _run_operation(args, request)


def _run_stop(args: argparse.Namespace) -> int:
    def request(environment: Mapping[str, str]) -> OperationRequest:
        return stop_request(
            args.ref, webhook_url=args.webhook_url, timeout=args.timeout, outbound=environment
        )

    return _run_operation(args, request)


def _run_delete(args: argparse.Namespace) -> int:
    def request(environment: Mapping[str, str]) -> OperationRequest:
        return delete_request(
            args.ref,
            confirm=args.confirm,
            webhook_url=args.webhook_url,
            timeout=args.timeout,
            outbound=environment,
        )

    return _run_operation(args, request)


def _run_operation(
    args: argparse.Namespace, build_request: Callable[[Mapping[str, str]], OperationRequest]
) -> int:
    try:
        # The settings first (exit 2 naming the variable), then the request under their URL policy.
        # Webhooks go through the template's dispatcher on the engine; local retries take seconds.
        shell = engine_environment()
        request = build_request(shell.variables)
    except BadInput as error:
        return fail(str(error))
    wait_seconds = (args.timeout or _DEFAULT_STARTUP_TIMEOUT) / shell.time_scale + _FOLLOW_MARGIN_SECONDS
    return run_in_foreground(
        request, shell, wait_seconds=wait_seconds, verbose=args.verbose, as_json=args.json
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # no command: the list of commands, as `git` does
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT
    # A shell starts a background job with SIGINT ignored, and Python keeps it so: Ctrl-C (or a
    # supervisor's SIGINT) must still reach every command's own handling of it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
