"""``novita-orchestrator doctor``: what a live Novita API speaks, and whether this service works with it.

Novita's docs leave open how pages are numbered and capped, whether lists carry ``total``, what an
error body looks like, whether deleted instances stay listed, whether an old ``statusError`` survives
a new start and which statuses appear. The doctor asks (with the user's key) and says, in plain words
or as one JSON object (``--json``):

* read-only by default, seven GETs at most: page 0 and page 1 with ``pageSize=1`` (numbering), one
  large page and, without ``total``, the page after it (cap), a get of an ID that cannot exist (the
  error body), a get of one listed instance (its shape); latency and rate-limit headers of each;
* ``--cycle INSTANCE`` (an exited instance, by ID or exact name) also starts it, waits for
  ``running``, sends a second start while it starts (what Novita answers to that), stops it and
  waits for ``exited``, recording every status and when it was seen.

Exit status: 0 when the service works with what was seen, 1 when not (each reason is named), 2 for
bad input. Nothing a Novita answer carries is printed but statuses, IDs, names, counts and redacted
error messages: never a password.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

import requests
from pydantic import ValidationError

from novita_orchestrator.deps import Aws
from novita_orchestrator.novita.client import NovitaClient
from novita_orchestrator.novita.error_mapping import error_from_response, parse_error_body
from novita_orchestrator.novita.errors import NovitaError
from novita_orchestrator.novita.models import (
    REMOVED_STATUSES,
    Instance,
    InstanceSummary,
    StatusError,
    is_documented_status,
)
from novita_orchestrator.novita.redaction import redact_text
from novita_orchestrator.settings import ConfigurationError, NovitaSettings
from novita_orchestrator.steps.resolve_target import find_instance
from novita_orchestrator.workflow.errors import WorkflowError

EXIT_COMPATIBLE = 0
EXIT_INCOMPATIBLE = 1
EXIT_BAD_INPUT = 2

LIST = "/gpu/instances"
GET = "/gpu/instance"
#: Asked for to find the server's page cap (a server may refuse it: then the fallback).
LARGE_PAGE = 1000
FALLBACK_PAGE = 100
_RATE_HEADER_WORDS = ("ratelimit", "rate-limit", "retry-after")


class DoctorStop(Exception):
    """The probe cannot go on (key refused, Novita down): the report so far says why."""


class DoctorBadInput(Exception):
    """The user's input cannot be used (e.g. ``--cycle`` names an instance that is not exited)."""


@dataclass
class Answer:
    status: int | None  # None: no answer (timeout, connection)
    body: Any
    text: str
    error: str | None = None


@dataclass
class Probe:
    """Raw requests to the Novita API, each recorded (operation, status, latency) for the report."""

    base_url: str
    api_key: str
    timeout: tuple[float, float]
    session: requests.Session = field(default_factory=requests.Session)
    clock: Callable[[], float] = time.monotonic
    calls: list[dict[str, Any]] = field(default_factory=list)
    rate_headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.session.headers.update(
            {"Authorization": f"Bearer {self.api_key}", "Content-Type": "application/json"}
        )

    def call(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
    ) -> Answer:
        began = self.clock()
        try:
            response = self.session.request(
                method, self.base_url + path, params=params, json=body, timeout=self.timeout
            )
        except requests.RequestException as exc:
            self._record(operation, method, path, None, began)
            return Answer(None, None, "", error=self.redact(f"{type(exc).__name__}: {exc}"))
        self._record(operation, method, path, response.status_code, began)
        for name, value in response.headers.items():
            if any(word in name.lower() for word in _RATE_HEADER_WORDS):
                self.rate_headers[name] = value
        try:
            parsed: Any = response.json() if response.content else None
        except ValueError:
            parsed = None
        return Answer(response.status_code, parsed, response.text)

    def redact(self, text: str) -> str:
        return redact_text(text, [self.api_key])

    def _record(self, operation: str, method: str, path: str, status: int | None, began: float) -> None:
        self.calls.append(
            {
                "operation": operation,
                "method": method,
                "path": path,
                "status": status,
                "ms": round((self.clock() - began) * 1000, 1),
            }
        )


@dataclass
class Report:
    base_url: str
    problems: list[str] = field(default_factory=list)
    findings: dict[str, Any] = field(default_factory=dict)
    cycle: dict[str, Any] | None = None

    @property
    def compatible(self) -> bool:
        return not self.problems

    def as_json(self, probe: Probe) -> dict[str, Any]:
        return {
            "baseUrl": self.base_url,
            "compatible": self.compatible,
            "problems": self.problems,
            **self.findings,
            "dialects": dialect_flags(self.findings, self.cycle, page_size=self.findings["servicePageSize"]),
            "cycle": self.cycle,
            "rateLimitHeaders": probe.rate_headers,
            "requests": probe.calls,
        }


# --- read-only probes -----------------------------------------------------------------------------


def _rows(answer: Answer) -> list[dict[str, Any]] | None:
    rows = answer.body.get("instances") if isinstance(answer.body, dict) else None
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        return None
    return rows


def _count(value: Any) -> int | None:
    """``total`` as a number, whether Novita sends it as one or as a string."""
    try:
        return int(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def _ids(rows: list[dict[str, Any]]) -> list[str]:
    return [str(row.get("id", "")) for row in rows]


def _stop_unless_answered(report: Report, probe: Probe, answer: Answer, what: str) -> None:
    """Refused keys, rate limits, outages and odd shapes end the probe with a named problem."""
    if answer.status is None:
        report.problems.append(f"{what} got no answer ({answer.error}): is NOVITA_BASE_URL right?")
    elif answer.status in (401, 403):
        report.findings["key"] = {"accepted": False, "status": answer.status}
        report.problems.append(f"the API key was refused (HTTP {answer.status} to {what})")
    elif answer.status == 429:
        report.problems.append(f"rate limited (HTTP 429 to {what}); try again in a minute")
    elif answer.status >= 500:
        report.problems.append(f"Novita failed (HTTP {answer.status} to {what}); try again later")
    elif not 200 <= answer.status < 300:
        report.problems.append(f"{what} was refused: HTTP {answer.status} {probe.redact(answer.text[:200])}")
    elif _rows(answer) is None:
        report.problems.append(f"{what} answered without an 'instances' list: the service cannot read it")
    else:
        return
    raise DoctorStop


def probe_pagination(report: Report, probe: Probe) -> list[dict[str, Any]]:
    """Numbering (page 0 vs page 1 at size 1), cap (one large page), ``total``; every row seen."""
    zero = probe.call("list page 0", "GET", LIST, params={"pageSize": 1, "pageNum": 0})
    _stop_unless_answered(report, probe, zero, "GET /gpu/instances")
    report.findings["key"] = {"accepted": True, "status": zero.status}
    one = probe.call("list page 1", "GET", LIST, params={"pageSize": 1, "pageNum": 1})
    _stop_unless_answered(report, probe, one, "GET /gpu/instances?pageNum=1")
    rows_zero, rows_one = _rows(zero) or [], _rows(one) or []
    if rows_zero and rows_one and _ids(rows_zero) == _ids(rows_one):
        first_page, page_zero = 1, "page 1 again"
    elif rows_one and not rows_zero:
        first_page, page_zero = 1, "empty"
    elif rows_zero:
        first_page, page_zero = 0, "the first page"
    else:
        first_page, page_zero = None, "unknown (no instances listed)"
    total_present = isinstance(zero.body, dict) and "total" in zero.body
    start = first_page if first_page is not None else 0
    asked = LARGE_PAGE
    large = probe.call("list a large page", "GET", LIST, params={"pageSize": asked, "pageNum": start})
    if large.status is not None and 400 <= large.status < 500 and large.status not in (401, 403, 429):
        asked = FALLBACK_PAGE
        large = probe.call("list a smaller page", "GET", LIST, params={"pageSize": asked, "pageNum": start})
    _stop_unless_answered(report, probe, large, f"GET /gpu/instances?pageSize={asked}")
    rows = _rows(large) or []
    total = _count(large.body.get("total")) if isinstance(large.body, dict) else None
    cap: int | None = None
    if total is not None and 0 < len(rows) < min(total, asked):
        cap = len(rows)
    elif total is None and 0 < len(rows) < asked:
        after = probe.call(
            "list the next page", "GET", LIST, params={"pageSize": len(rows), "pageNum": start + 1}
        )
        _stop_unless_answered(report, probe, after, "GET /gpu/instances (the page after)")
        if _rows(after):
            cap = len(rows)
            rows = rows + (_rows(after) or [])
    report.findings["pagination"] = {
        "firstPage": first_page,
        "pageZero": page_zero,
        "pageCap": cap,
        "largestPageAsked": asked,
        "rowsSeen": len(rows),
        "totalPresent": total_present,
    }
    unreadable = _unreadable(rows, InstanceSummary)
    if unreadable:
        report.problems.append(f"listed instances the service cannot read: {unreadable}")
    return rows or rows_zero or rows_one


def probe_not_found(report: Report, probe: Probe) -> None:
    """The error body of a harmless not-found: a get of an ID that cannot exist."""
    ghost = f"doctor-no-such-instance-{uuid.uuid4().hex[:12]}"
    answer = probe.call("get an unknown ID", "GET", GET, params={"instanceId": ghost})
    found: dict[str, Any] = {"status": answer.status}
    if answer.status is None:
        report.problems.append(f"a get of an unknown ID got no answer ({answer.error})")
    elif 200 <= answer.status < 300:
        found["named"] = None
        found["treatedAs"] = "an answer that is not that instance: the name lookup follows"
    else:
        reason, message = parse_error_body(answer.text)
        error = error_from_response("get_instance", answer.status, answer.text, None, 0.0, [probe.api_key])
        found.update(
            {
                "named": reason is not None,
                "reason": reason,
                "message": probe.redact(message or "")[:200] or None,
                "bodyKeys": sorted(answer.body) if isinstance(answer.body, dict) else None,
                "classifiedAs": error.code,
            }
        )
        if answer.status in (401, 403, 429) or answer.status >= 500:
            report.problems.append(
                f"a get of an unknown ID answers HTTP {answer.status}: a start by name would fail"
            )
        else:
            found["treatedAs"] = "not this ID: a name lookup follows"
    report.findings["notFound"] = found


def probe_instance(report: Report, probe: Probe, rows: list[dict[str, Any]]) -> None:
    """One listed instance read by ID, parsed as the service parses it (never shown)."""
    live = [row for row in rows if row.get("id") and row.get("status") not in REMOVED_STATUSES]
    if not live:
        report.findings["instanceShape"] = "not checked (no instance listed)"
        return
    instance_id = str(live[0]["id"])
    answer = probe.call("get a listed instance", "GET", GET, params={"instanceId": instance_id})
    if answer.status is None or not 200 <= answer.status < 300:
        report.problems.append(f"a get of listed instance {instance_id} answered HTTP {answer.status}")
        return
    unreadable = _unreadable([answer.body], Instance)
    if unreadable:
        report.problems.append(f"instance {instance_id} as GET answers it cannot be read: {unreadable}")
    else:
        report.findings["instanceShape"] = "readable"


def statuses_seen(report: Report, rows: list[dict[str, Any]]) -> None:
    seen = sorted({str(row.get("status")) for row in rows if row.get("status")})
    report.findings["statuses"] = {
        "seen": seen,
        "undocumented": [status for status in seen if not is_documented_status(status)],
    }
    report.findings["removedRowsListed"] = {
        "removed": sum(1 for row in rows if row.get("status") == "removed"),
        "beingRemoved": sum(1 for row in rows if row.get("status") in {"toRemove", "removing"}),
    }


def _unreadable(rows: list[Any], model: type[InstanceSummary]) -> str:
    problems: list[str] = []
    for row in rows:
        try:
            model.model_validate(row)
        except ValidationError as exc:  # where and what only: the value may be a secret
            problems.extend(f"{'.'.join(str(p) for p in e['loc'])}: {e['type']}" for e in exc.errors())
    return "; ".join(sorted(set(problems))[:5])


# --- the start/stop cycle -------------------------------------------------------------------------


@dataclass
class CycleLimits:
    timeout_seconds: float
    poll_seconds: float


def run_cycle(
    report: Report,
    probe: Probe,
    client: NovitaClient,
    ref: str,
    limits: CycleLimits,
    sleep: Callable[[float], None],
) -> None:
    """Start ``ref`` (exited), wait for running, second start while starting, stop, wait for exited."""
    try:
        instance = find_instance(client, ref)
    except (WorkflowError, NovitaError) as error:
        raise DoctorBadInput(f"--cycle {ref}: {probe.redact(str(error))}") from None
    if instance.status != "exited":
        raise DoctorBadInput(f"--cycle needs an exited instance; {instance.id} is {instance.status}")
    before = _error_record(instance.status_error)
    cycle: dict[str, Any] = {"instanceId": instance.id, "statusErrorBefore": before, "statusErrorKept": None}
    report.cycle = cycle
    began = probe.clock()
    start = probe.call("start", "POST", "/gpu/instance/start", body={"instanceId": instance.id})
    cycle["start"] = _action_answer(probe, start, "start_instance")
    if start.status is None or not 200 <= start.status < 300:
        report.problems.append(f"the start of {instance.id} was refused: {cycle['start']}")
        return
    starting: list[dict[str, Any]] = []
    cycle["starting"] = starting

    def on_status(status: str, data: dict[str, Any]) -> None:
        if "secondStart" not in cycle and status not in ("exited", "running"):
            again = probe.call(
                "second start", "POST", "/gpu/instance/start", body={"instanceId": instance.id}
            )
            cycle["secondStart"] = _action_answer(probe, again, "start_instance")
            if before is not None:
                cycle["statusErrorKept"] = _error_record(_status_error(data)) == before

    reached = _wait_for(probe, instance.id, "running", starting, began, limits, sleep, on_status)
    if reached != "running":
        report.problems.append(
            f"{instance.id} did not reach running ({reached}) within {limits.timeout_seconds:g} s"
        )
        return
    stop = probe.call("stop", "POST", "/gpu/instance/stop", body={"instanceId": instance.id})
    cycle["stop"] = _action_answer(probe, stop, "stop_instance")
    stopping: list[dict[str, Any]] = []
    cycle["stopping"] = stopping
    stopped = _wait_for(probe, instance.id, "exited", stopping, probe.clock(), limits, sleep, None)
    if stopped != "exited":
        report.problems.append(f"{instance.id} did not stop ({stopped}) within {limits.timeout_seconds:g} s")


def _wait_for(
    probe: Probe,
    instance_id: str,
    wanted: str,
    seen: list[dict[str, Any]],
    began: float,
    limits: CycleLimits,
    sleep: Callable[[float], None],
    on_status: Callable[[str, dict[str, Any]], None] | None,
) -> str:
    """Poll until ``wanted``; every status change goes into ``seen`` with its time. The last status."""
    last = ""
    while True:
        answer = probe.call("poll", "GET", GET, params={"instanceId": instance_id})
        data = answer.body if isinstance(answer.body, dict) else {}
        status = str(data.get("status") or f"HTTP {answer.status}")
        at = round(probe.clock() - began, 2)
        if status != last:
            entry: dict[str, Any] = {"status": status, "atSeconds": at}
            error = _error_record(_status_error(data))
            if error is not None:
                entry["statusError"] = {
                    k: probe.redact(v) if isinstance(v, str) else v for k, v in error.items()
                }
            seen.append(entry)
            last = status
        if status == wanted:
            return status
        if on_status is not None:
            on_status(status, data)
        if probe.clock() - began > limits.timeout_seconds:
            return f"still {status}"
        sleep(limits.poll_seconds)


def _status_error(data: dict[str, Any]) -> StatusError | None:
    raw = data.get("statusError")
    if not isinstance(raw, dict) or not any(raw.get(k) for k in ("state", "message")):
        return None
    return StatusError.model_validate(raw)


def _error_record(error: StatusError | None) -> dict[str, Any] | None:
    return None if error is None else {"state": error.state, "message": error.message}


def _action_answer(probe: Probe, answer: Answer, operation: str) -> dict[str, Any]:
    if answer.status is None:
        return {"status": None, "error": answer.error}
    if 200 <= answer.status < 300:
        return {"status": answer.status}
    reason, message = parse_error_body(answer.text)
    error = error_from_response(operation, answer.status, answer.text, None, 0.0, [probe.api_key])
    refused = answer.status not in (401, 403, 429) and answer.status < 500
    return {
        "status": answer.status,
        "named": reason is not None,
        "reason": reason,
        "message": probe.redact(message or "")[:200] or None,
        "classifiedAs": error.code,
        "treatedAs": "refused: the service reads the status and carries on if it is in progress"
        if refused
        else "an error",
    }


# --- the verdict in the simulator's vocabulary -----------------------------------------------------


def dialect_flags(
    findings: dict[str, Any], cycle: dict[str, Any] | None, *, page_size: int
) -> dict[str, Any]:
    """Each simulator dialect: true (this Novita answers that way), false (the default way), or null."""
    pagination = findings.get("pagination") or {}
    first_page = pagination.get("firstPage")
    total_present = pagination.get("totalPresent")
    cap = pagination.get("pageCap")
    capped: bool | None = None
    if total_present is False or (cap is not None and cap < page_size):
        capped = True
    elif total_present:
        capped = False
    named = (findings.get("notFound") or {}).get("named")
    removed = (findings.get("removedRowsListed") or {}).get("removed", 0)
    undocumented = list((findings.get("statuses") or {}).get("undocumented") or [])
    if cycle is not None:
        for entry in (cycle.get("starting") or []) + (cycle.get("stopping") or []):
            if not is_documented_status(entry["status"]) and not entry["status"].startswith("HTTP"):
                undocumented.append(entry["status"])
    pending: bool | None = True if undocumented else (False if cycle is not None else None)
    return {
        "zero-pages": None if first_page is None else first_page == 0,
        "capped-pages": capped,
        "bare-errors": None if named is None else not named,
        "keep-removed": True if removed else None,
        "stale-status-error": None if cycle is None else cycle.get("statusErrorKept"),
        "pending": pending,
    }


# --- output -----------------------------------------------------------------------------------------


def plain_words(result: dict[str, Any]) -> list[str]:
    verdict = "works with this service" if result["compatible"] else "does NOT work with this service"
    lines = [f"Novita API at {result['baseUrl']}: {verdict}"]
    lines += [f"  problem: {problem}" for problem in result["problems"]]
    key = result.get("key")
    if key:
        lines.append(f"  key: {'accepted' if key['accepted'] else 'refused'} (HTTP {key['status']})")
    pages = result.get("pagination")
    if pages:
        numbering = {0: "pages count from 0", 1: "pages count from 1", None: "page numbering unknown"}
        lines.append(
            f"  page numbering: {numbering[pages['firstPage']]} (pageNum=0 gives {pages['pageZero']})"
        )
        cap = pages["pageCap"]
        lines.append(
            f"  page cap: {cap} rows per page"
            if cap
            else f"  page cap: none seen ({pages['rowsSeen']} rows on a page of {pages['largestPageAsked']})"
        )
        lines.append(
            "  total: present"
            if pages["totalPresent"]
            else "  total: absent (the service reads lists until an empty page)"
        )
    missing = result.get("notFound")
    if missing and missing.get("status") is not None:
        body = "named" if missing.get("named") else "nameless"
        detail = missing.get("reason") or repr(missing.get("message"))
        lines.append(
            f"  error body of a not-found: HTTP {missing['status']}, {body} ({detail}),"
            f" read as {missing.get('classifiedAs', '-')}"
        )
    statuses = result.get("statuses")
    if statuses:
        extra = f"; undocumented: {', '.join(statuses['undocumented'])}" if statuses["undocumented"] else ""
        lines.append(f"  statuses listed: {', '.join(statuses['seen']) or 'none'}{extra}")
    removed = result.get("removedRowsListed")
    if removed:
        lines.append(
            f"  deleted rows listed: {removed['removed']} removed, {removed['beingRemoved']} being removed"
            " (name lookups skip them)"
        )
    if result.get("instanceShape"):
        lines.append(f"  instance shape: {result['instanceShape']}")
    cycle = result.get("cycle")
    if cycle:
        lines.append(f"  cycle of {cycle['instanceId']}:")
        for label in ("starting", "stopping"):
            steps = ", ".join(f"{e['status']} at {e['atSeconds']:g} s" for e in cycle.get(label) or [])
            lines.append(f"    {label}: {steps or '-'}")
        if "secondStart" in cycle:
            lines.append(f"    a second start while starting: {_describe_answer(cycle['secondStart'])}")
        if cycle.get("statusErrorBefore"):
            kept = {True: "kept during the new start", False: "cleared by the new start", None: "not seen"}
            lines.append(f"    the old statusError was {kept[cycle.get('statusErrorKept')]}")
    flags = [name for name, value in result["dialects"].items() if value]
    unknown = [name for name, value in result["dialects"].items() if value is None]
    lines.append(f"  in the simulator's terms: --dialect {','.join(flags) or '(none)'}")
    if unknown:
        lines.append(f"  not determined: {', '.join(unknown)}")
    if result["rateLimitHeaders"]:
        headers = ", ".join(f"{k}: {v}" for k, v in result["rateLimitHeaders"].items())
        lines.append(f"  rate-limit headers: {headers}")
    else:
        lines.append("  rate-limit headers: none")
    timings = ", ".join(
        f"{c['operation']} {c['ms']:g} ms" for c in result["requests"] if c["operation"] != "poll"
    )
    lines.append(f"  {len(result['requests'])} requests: {timings}")
    return lines


def _describe_answer(answer: dict[str, Any]) -> str:
    if answer.get("status") is None:
        return f"no answer ({answer.get('error')})"
    if 200 <= answer["status"] < 300:
        return f"HTTP {answer['status']} (accepted)"
    name = answer.get("reason") or f"nameless {answer.get('message')!r}"
    return f"HTTP {answer['status']} {name}, read as {answer['classifiedAs']}; {answer['treatedAs']}"


# --- command line -------------------------------------------------------------------------------------


def add_doctor_command(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "doctor",
        help="check a live Novita API with your key: what it speaks, and whether this service works with it",
        description="Read-only checks of the Novita API at NOVITA_BASE_URL with NOVITA_API_KEY "
        "(at most seven GETs); --cycle also starts and stops one exited instance.",
        epilog="environment:\n  NOVITA_API_KEY        Novita API key (required)\n"
        "  NOVITA_BASE_URL       Novita API to check (default: production)\n\n"
        "exit status: 0 compatible, 1 not compatible, 2 bad input\n\n"
        "example:\n  NOVITA_API_KEY=... novita-orchestrator doctor --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument(
        "--cycle", metavar="INSTANCE", help="also start, then stop, this exited instance (ID or exact name)"
    )
    parser.add_argument(
        "--timeout", type=float, default=900.0, metavar="S", help="--cycle: longest wait for each step (900)"
    )
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=2.0,
        metavar="S",
        help="--cycle: seconds between status reads (2)",
    )
    parser.set_defaults(handler=run_doctor)
    return parser


def _key_from_secret(settings: NovitaSettings) -> str:
    """The key in NOVITA_API_KEY_SECRET_ARN (the settings require it when NOVITA_API_KEY is unset)."""
    secret_id = settings.NOVITA_API_KEY_SECRET_ARN or ""
    return Aws().secret(secret_id, max_age=0, setting="NOVITA_API_KEY_SECRET_ARN")


def run_doctor(
    args: argparse.Namespace,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    if args.timeout <= 0 or args.poll_interval < 0:
        print("novita-orchestrator doctor: --timeout must be > 0 and --poll-interval >= 0", file=err)
        return EXIT_BAD_INPUT
    try:
        settings = NovitaSettings.load()
        api_key = settings.novita_api_key() or _key_from_secret(settings)
    except ConfigurationError as error:
        print(f"novita-orchestrator doctor: {error}", file=err)
        return EXIT_BAD_INPUT
    probe = Probe(
        settings.NOVITA_BASE_URL.rstrip("/"),
        api_key,
        (settings.NOVITA_CONNECT_TIMEOUT_SECONDS, settings.NOVITA_READ_TIMEOUT_SECONDS),
    )
    report = Report(probe.base_url)
    report.findings["servicePageSize"] = settings.NOVITA_PAGE_SIZE
    try:
        rows = probe_pagination(report, probe)
        statuses_seen(report, rows)
        probe_not_found(report, probe)
        probe_instance(report, probe, rows)
        if args.cycle:
            client = NovitaClient(settings, api_key=api_key)
            try:
                run_cycle(
                    report, probe, client, args.cycle, CycleLimits(args.timeout, args.poll_interval), sleep
                )
            finally:
                client.close()
    except DoctorStop:
        pass
    except DoctorBadInput as error:
        print(f"novita-orchestrator doctor: {error}", file=err)
        return EXIT_BAD_INPUT
    finally:
        probe.session.close()
    result = report.as_json(probe)
    if args.json:
        print(json.dumps(result), file=out)
    else:
        print("\n".join(plain_words(result)), file=out)
    return EXIT_COMPATIBLE if report.compatible else EXIT_INCOMPATIBLE
