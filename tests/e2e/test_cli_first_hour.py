"""A new user's first hour with the command: bad settings refused at once, failures in one line, help
that answers the questions (issue 15). Every case runs the command as a separate process."""

from __future__ import annotations

import pytest

from novita_local.simulator import Simulator
from tests.e2e.test_cli import base_environment, cli, env  # noqa: F401 - `env` is a fixture

pytestmark = pytest.mark.timeout(180)


@pytest.mark.parametrize(
    ("variable", "value", "command"),
    [
        ("NOVITA_BASE_URL", "not-a-url", ["start", "dev-box"]),
        ("POLL_MIN_SECONDS", "abc", ["start", "dev-box"]),
        ("WEBHOOK_TIMEOUT_SECONDS", "-1", ["create", "--template", "t", "--product", "p", "--name", "n"]),
        ("POLL_MIN_SECONDS", "abc", ["serve", "--port", "0"]),
    ],
)
def test_a_bad_setting_exits_2_naming_the_variable_before_anything_runs(
    env: dict[str, str],  # noqa: F811
    simulator: Simulator,
    variable: str,
    value: str,
    command: list[str],
) -> None:
    result = cli(*command, env={**env, variable: value}, timeout=60)

    assert result.returncode == 2, result.stderr
    assert variable in result.stderr
    assert "INTERNAL" not in result.stderr + result.stdout
    assert simulator.admin.journal() == []  # Novita was never called


@pytest.mark.parametrize("secret", ["whsec_abc", "not base64 at all!", "whsec_" + "A" * 8])
def test_a_bad_signing_secret_exits_2_at_once_with_the_reason(
    env: dict[str, str],  # noqa: F811
    simulator: Simulator,
    secret: str,
) -> None:
    result = cli("start", "dev-box", env={**env, "WEBHOOK_SIGNING_SECRET": secret}, timeout=60)

    assert result.returncode == 2, result.stderr
    assert "WEBHOOK_SIGNING_SECRET" in result.stderr
    assert "novita-orchestrator secret" in result.stderr  # how to make a good one
    assert secret not in result.stderr  # the value itself is never echoed
    assert simulator.admin.journal() == []


def test_the_secret_command_prints_a_secret_the_service_accepts(env: dict[str, str]) -> None:  # noqa: F811
    made = cli("secret", env=env)
    secret = made.stdout.strip()
    assert made.returncode == 0 and secret.startswith("whsec_")

    result = cli("start", "dev-box", "--json", env={**env, "WEBHOOK_SIGNING_SECRET": secret})
    assert result.returncode == 0, result.stderr


def test_a_failed_start_prints_one_line_with_the_code_not_the_engines_internals(
    env: dict[str, str],  # noqa: F811
) -> None:
    result = cli("start", "no-such-box", env=env)

    assert result.returncode == 1
    assert "INSTANCE_NOT_FOUND" in result.stdout
    assert "FailureEventException" not in result.stderr
    assert " object at 0x" not in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 4, result.stderr
    assert len(result.stderr) < 800, result.stderr


def test_a_failed_start_with_verbose_shows_the_engines_log(env: dict[str, str]) -> None:  # noqa: F811
    result = cli("start", "no-such-box", "--verbose", env=env)

    assert result.returncode == 1
    assert "InstanceNotFound" in result.stderr  # the functions' and the interpreter's logs


def test_no_arguments_lists_the_commands_and_version_prints_it() -> None:
    bare = cli(env=base_environment())
    assert bare.returncode == 2
    for command in ("start", "create", "serve", "demo", "simulator", "dlq", "secret"):
        assert command in bare.stderr

    shown = cli("--version", env=base_environment())
    assert shown.returncode == 0
    assert shown.stdout.startswith("novita-orchestrator ")


@pytest.mark.parametrize("command", ["start", "create"])
def test_help_lists_variables_defaults_exit_codes_and_an_example(command: str) -> None:
    result = cli(command, "--help", env=base_environment())

    assert result.returncode == 0
    for expected in (
        "NOVITA_API_KEY",
        "NOVITA_BASE_URL",
        "TIME_SCALE",
        "default 1800",
        "exit status: 0 ready, 1 failed",
        "2 bad input",
        "example:\n  export NOVITA_BASE_URL=",
        f"novita-orchestrator {command} ",
    ):
        assert expected in result.stdout, expected


@pytest.mark.parametrize(
    "command",
    [["serve"], ["demo"], ["doctor"], ["simulator"], ["dlq"], ["secret"], ["status"], ["follow"], ["cancel"]],
)
def test_every_command_help_says_what_it_reads_its_exit_codes_and_an_example(command: list[str]) -> None:
    result = cli(*command, "--help", env=base_environment())

    assert result.returncode == 0
    assert "environment:" in result.stdout or "--api" in result.stdout
    assert "exit status: 0" in result.stdout
    assert "example:\n  " in result.stdout
