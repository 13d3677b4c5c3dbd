"""The ``novita-orchestrator`` command: the simulator, the demo and single operations, offline."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="novita-orchestrator",
        description="Start or create Novita GPU instances and learn when they are really ready.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    from novita_local.simulator.server import add_simulator_command

    add_simulator_command(commands)

    demo = commands.add_parser("demo", help="run the end-to-end demo on the embedded stack")
    demo.add_argument("--json", action="store_true", help="print one JSON object at the end")
    demo.set_defaults(handler=_demo_placeholder)
    return parser


def _demo_placeholder(args: argparse.Namespace) -> int:
    # The startup workflow (state machine + Lambdas on the local engine) is not built yet.
    print(
        "novita-orchestrator demo: the startup workflow is not built yet; try\n"
        "  novita-orchestrator simulator --port 8080\n"
        "to run the Novita simulator on its own.",
        file=sys.stderr,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
