"""``novita-orchestrator doctor`` against the simulator: it reports every dialect the simulator speaks
(alone and all at once), stays read-only and within seven requests unless ``--cycle`` is given, names
why it exits 1, and never prints a password or the key."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from novita_local.cli import main
from novita_local.simulator import Simulator
from novita_local.simulator.dialects import DIALECTS
from novita_orchestrator import observability
from tests.e2e.test_cli import COMMAND, base_environment
from tests.support.simulator import TEST_API_KEY

pytestmark = pytest.mark.timeout(120)

#: Enough rows to see a cap of 20, one deleted instance (listed only by keep-removed) and one with an
#: old statusError for --cycle (kept only by stale-status-error).
SEED = [
    *({"name": f"bulk-{n:02}"} for n in range(25)),
    {"id": "inst-gone", "name": "gone", "status": "removed"},
    {
        "id": "inst-scarred",
        "name": "scarred",
        "statusError": {"state": "failed", "message": "old pull failed"},
    },
]
SECRETS = ("ssh-pass-", "term-pass-", "fake-registry-pass-7Qx9", TEST_API_KEY)
# Imported at collection: the functions' log handler binds to the session's stdout, not to the
# stdout one test's capsys replaces and then closes (the doctor runs in process here).
assert observability.logger is not None


def doctor(
    simulator: Simulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    monkeypatch.setenv("NOVITA_BASE_URL", simulator.base_url)
    monkeypatch.setenv("NOVITA_API_KEY", TEST_API_KEY)
    code = main(["doctor", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def expected_flags(active: tuple[str, ...]) -> dict[str, bool | None]:
    # keep-removed cannot be told from "nothing was deleted" when no removed row is listed
    return {
        name: True if name in active else (None if name == "keep-removed" else False) for name in DIALECTS
    }


@pytest.mark.every_dialect
def test_doctor_reports_the_dialect_it_finds(simulator, dialects, monkeypatch, capsys):
    simulator.admin.add_instances(SEED)
    simulator.admin.set_config(time_scale=100)

    code, out, _ = doctor(
        simulator, monkeypatch, capsys, "--json", "--cycle", "scarred", "--poll-interval", "0.02"
    )

    report = json.loads(out)
    assert code == 0, report["problems"]
    assert report["compatible"] is True
    assert report["dialects"] == expected_flags(dialects)
    assert report["pagination"]["firstPage"] == (0 if "zero-pages" in dialects else 1)
    assert report["pagination"]["pageCap"] == (20 if "capped-pages" in dialects else None)
    assert report["pagination"]["totalPresent"] is ("capped-pages" not in dialects)
    assert report["notFound"]["classifiedAs"] == "NOT_FOUND"
    cycle = report["cycle"]
    assert [e["status"] for e in cycle["starting"]][-1] == "running"
    assert [e["status"] for e in cycle["stopping"]][-1] == "exited"
    assert cycle["secondStart"]["status"] == 400
    assert cycle["secondStart"]["named"] is ("bare-errors" not in dialects)
    assert not any(secret in out for secret in SECRETS)


def test_read_only_by_default_and_within_seven_requests(simulator, dialects, monkeypatch, capsys):
    simulator.admin.add_instances(SEED)

    code, out, _ = doctor(simulator, monkeypatch, capsys, "--json")

    report = json.loads(out)
    assert code == 0
    sent = simulator.admin.journal()
    assert {entry["method"] for entry in sent} == {"GET"}
    assert len(sent) == len(report["requests"]) <= 7
    assert all(call["ms"] >= 0 for call in report["requests"])
    assert report["cycle"] is None
    assert report["dialects"]["stale-status-error"] is None


def test_plain_words_name_what_was_seen_and_never_a_password(simulator):
    simulator.admin.set_dialects("zero-pages", "bare-errors")
    env = {**base_environment(), "NOVITA_BASE_URL": simulator.base_url, "NOVITA_API_KEY": TEST_API_KEY}

    done = subprocess.run([COMMAND, "doctor"], env=env, capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].endswith("works with this service")
    assert "  page numbering: pages count from 0 (pageNum=0 gives the first page)" in lines
    assert any(line.startswith("  error body of a not-found: HTTP 400, nameless") for line in lines)
    assert "  in the simulator's terms: --dialect zero-pages,bare-errors" in lines
    assert not any(secret in done.stdout + done.stderr for secret in SECRETS)


def test_a_refused_key_exits_1_naming_why(simulator):
    env = {**base_environment(), "NOVITA_BASE_URL": simulator.base_url, "NOVITA_API_KEY": "sk-not-the-key"}

    done = subprocess.run([COMMAND, "doctor", "--json"], env=env, capture_output=True, text=True, timeout=60)

    assert done.returncode == 1
    report: dict[str, Any] = json.loads(done.stdout)
    assert report["key"] == {"accepted": False, "status": 401}
    assert report["problems"] == ["the API key was refused (HTTP 401 to GET /gpu/instances)"]
    assert "sk-not-the-key" not in done.stdout + done.stderr
    assert len(simulator.admin.journal()) == 1


def test_a_get_of_an_unknown_id_failing_upstream_is_incompatible(simulator, monkeypatch, capsys):
    simulator.admin.add_fault(kind="error", method="GET", path="/gpu/instance", status=500, count=1)

    code, out, _ = doctor(simulator, monkeypatch, capsys, "--json")

    assert code == 1
    assert json.loads(out)["problems"] == [
        "a get of an unknown ID answers HTTP 500: a start by name would fail"
    ]


def test_cycle_needs_an_exited_instance(simulator, monkeypatch, capsys):
    code, _, err = doctor(simulator, monkeypatch, capsys, "--cycle", "inference")

    assert code == 2
    assert "--cycle needs an exited instance; inst-inference is running" in err
    assert [e["method"] for e in simulator.admin.journal()].count("POST") == 0


def test_without_a_key_the_doctor_says_which_variable(simulator, monkeypatch, capsys):
    monkeypatch.delenv("NOVITA_API_KEY_SECRET_ARN", raising=False)
    monkeypatch.setenv("NOVITA_API_KEY", "")
    monkeypatch.setenv("NOVITA_BASE_URL", simulator.base_url)

    assert main(["doctor"]) == 2
    assert "NOVITA_API_KEY" in capsys.readouterr().err
