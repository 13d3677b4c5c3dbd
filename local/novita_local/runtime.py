"""What every ``novita-orchestrator`` command shares: exit codes, messages, the shell's environment
for the functions, and keeping the functions' output off stdout (which carries ``--json``)."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TextIO

from novita_local.preflight import settings_problems
from novita_local.webhooks import with_local_webhook_defaults
from novita_orchestrator.observability import logger
from novita_orchestrator.settings import DEFAULT_NOVITA_BASE_URL, setting_names

EXIT_OK = 0
EXIT_READY = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
#: What shells report for a command ended by Ctrl-C (128 + SIGINT).
EXIT_INTERRUPTED = 130

PROGRAM = "novita-orchestrator"

#: What `start`, `create` and `serve --help` say they read (the embedded stack's functions' settings).
ENGINE_VARIABLES_HELP = """\
environment:
  NOVITA_API_KEY        Novita API key (required)
  NOVITA_BASE_URL       Novita API to drive (default: production, https://api.novita.ai/...);
                        e.g. the simulator's URL from `novita-orchestrator simulator`
  TIME_SCALE            local runs: the workflow clock runs this many times faster (default 1)
  ALLOW_PRIVATE_NETWORK_TARGETS
                        true lets webhooks and health probes reach loopback/private hosts
  WEBHOOK_SIGNING_SECRET
                        whsec_ secret the webhooks are signed with (make one: novita-orchestrator secret)
  every other setting of the README's table is passed to the functions too, and checked first
"""
# Wired by the template on the engine; a value from the shell would point the functions elsewhere.
_NOT_PASSED_THROUGH = frozenset({"OPERATIONS_TABLE_NAME", "RESILIENCE_TABLE_NAME", "DYNAMODB_ENDPOINT_URL"})


class BadInput(ValueError):
    """The command cannot run as asked: the message names the flag, field or variable (never a value)."""


def fail(message: str, code: int = EXIT_BAD_INPUT, *, command: str | None = None) -> int:
    """Say what went wrong on stderr and return the exit code."""
    prefix = f"{PROGRAM} {command}" if command else PROGRAM
    print(f"{prefix}: {message}", file=sys.stderr)
    return code


def shell_environment() -> Mapping[str, str]:
    """The environment the command was started with."""
    return os.environ


def function_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The settings the functions read, taken from the shell (names as in the settings models)."""
    environ = shell_environment() if environ is None else environ
    names = set(setting_names()) - _NOT_PASSED_THROUGH
    return {name: environ[name] for name in sorted(names) if name in environ}


@dataclass(frozen=True)
class EngineEnvironment:
    """What the shell gives the functions on the embedded engine, and its time scale."""

    variables: dict[str, str]
    time_scale: float


def engine_environment() -> EngineEnvironment:
    """The functions' environment from the shell, with local webhook retries; BadInput if unusable."""
    variables = with_local_webhook_defaults(function_environment())
    if not variables.get("NOVITA_API_KEY", "").strip():
        raise BadInput("NOVITA_API_KEY is not set: the Novita API key is required")
    try:
        time_scale = float(variables.get("TIME_SCALE", "1"))
    except ValueError:
        time_scale = 0.0
    if not time_scale > 0:
        raise BadInput("TIME_SCALE: must be a number > 0")
    check_settings(variables)
    return EngineEnvironment(variables, time_scale)


def novita_banner(variables: Mapping[str, str]) -> str:
    """Which Novita API the command drives; said loudly when it is production by default."""
    url = variables.get("NOVITA_BASE_URL", "").strip()
    if url:
        return f"Novita API: {url} (NOVITA_BASE_URL)"
    return (
        f"Novita API: {DEFAULT_NOVITA_BASE_URL} -- PRODUCTION, since NOVITA_BASE_URL is not set: this drives"
        " your real instances, and Novita bills them (for the simulator, set NOVITA_BASE_URL to its URL)"
    )


def check_settings(variables: Mapping[str, str]) -> None:
    """BadInput naming every variable the functions would refuse at init (before anything starts)."""
    problems = settings_problems(variables)
    if problems:
        hint = ""
        if any(p.startswith("WEBHOOK_SIGNING_SECRET") for p in problems):
            hint = f" (make a secret with: {PROGRAM} secret)"
        raise BadInput("invalid settings: " + "; ".join(problems) + hint)


@contextlib.contextmanager
def handler_output_on_stderr(*, verbose: bool) -> Iterator[None]:
    """The functions run in this process: keep their logs and metrics off stdout (it carries --json).

    Without --verbose their warnings still reach stderr, and their metric lines (CloudWatch EMF,
    printed to stdout) are dropped so the progress lines stay readable; so is moto's log, whose
    interpreter dumps kilobytes of its own objects for every failed state (the outcome line says why).
    """
    moto_log = logging.getLogger("moto")
    moto_level = moto_log.level
    if not verbose:
        moto_log.setLevel(logging.CRITICAL)
    handler = logger.registered_handler
    stream: TextIO | None = getattr(handler, "stream", None)
    if stream is not None and hasattr(handler, "setStream"):
        handler.setStream(sys.stderr)
    level = logger.log_level
    if not verbose:
        logger.setLevel("WARNING")
    try:
        with (
            contextlib.nullcontext(sys.stderr) if verbose else open(os.devnull, "w") as sink,
            contextlib.redirect_stdout(sink),
        ):
            yield
    finally:
        moto_log.setLevel(moto_level)
        logger.setLevel(level)
        if stream is not None and hasattr(handler, "setStream"):
            handler.setStream(stream)
