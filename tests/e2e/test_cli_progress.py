"""Progress a user can read: a ticking status line on a terminal, plain lines when piped, one clock
labelled as simulated under TIME_SCALE, and a banner naming the Novita API driven (issue 15: 13)."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time

import pytest

from novita_local.serve import exposure_warning
from novita_local.simulator import Simulator
from tests.e2e.test_cli import COMMAND, base_environment, cli, env  # noqa: F401 - `env` is a fixture
from tests.e2e.test_cli_remote import serving

pytestmark = pytest.mark.timeout(120)


def run_on_a_terminal(args: list[str], environment: dict[str, str]) -> tuple[int, str]:
    """The command with its stderr on a pseudo-terminal; its exit code and what the terminal showed."""
    leader, follower = pty.openpty()
    process = subprocess.Popen([COMMAND, *args], env=environment, stdout=subprocess.DEVNULL, stderr=follower)
    os.close(follower)
    shown = b""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the command ended and closed the terminal
                break
            if not chunk:
                break
            shown += chunk
        elif process.poll() is not None:
            break
    os.close(leader)
    return process.wait(timeout=30), shown.decode("utf-8", "replace")


def test_on_a_terminal_a_status_line_ticks_the_elapsed_time_and_the_phase(
    env: dict[str, str],  # noqa: F811
    simulator: Simulator,
) -> None:
    simulator.admin.set_config(starting=300)  # a few real seconds of `starting` to watch tick
    code, shown = run_on_a_terminal(["start", "dev-box"], env)

    assert code == 0, shown
    assert "\r  ... +" in shown  # redrawn in place
    assert "s simulated, phase starting" in shown
    assert "instance.startup.completed" in shown


def test_piped_the_lines_are_plain_and_say_their_seconds_are_simulated(
    env: dict[str, str],  # noqa: F811
) -> None:
    result = cli("start", "dev-box", env=env)

    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stderr
    assert f"(times in simulated seconds (TIME_SCALE={float(env['TIME_SCALE']):g}" in result.stderr
    assert f"Novita API: {env['NOVITA_BASE_URL']}" in result.stderr.splitlines()[0]


def test_without_novita_base_url_the_banner_says_it_drives_production() -> None:
    with serving({**base_environment(), "NOVITA_API_KEY": "some-real-looking-key"}) as (_, stderr):
        # After the lines saying where it serves and what it signs webhooks with.
        banner = next(line for line in iter(stderr.readline, "") if line.startswith("Novita API"))

    assert "https://api.novita.ai/" in banner and "PRODUCTION" in banner and "NOVITA_BASE_URL" in banner


@pytest.mark.parametrize(
    ("host", "warned"),
    [("0.0.0.0", True), ("192.168.1.20", True), ("::", True), ("127.0.0.1", False), ("localhost", False)],
)
def test_serving_beyond_loopback_is_warned_about(host: str, warned: bool) -> None:
    # Checked on the function: the tests never bind beyond loopback.
    warning = exposure_warning(host, api_key=None)
    assert (warning is not None) == warned
    if warning:
        assert host in warning and "--api-key" in warning
