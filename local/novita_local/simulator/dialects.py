"""Dialects: the simulator's other plausible answer wherever Novita's docs are silent.

The default is one consistent reading of the docs; each dialect switches one behaviour to the other
answer a real Novita may give, and any of them can be combined (``all`` = every one). They are set
with ``novita-orchestrator simulator --dialect a,b`` or ``PUT /__admin/dialects``.
"""

from __future__ import annotations

from collections.abc import Iterable

from novita_local.simulator.errors import invalid

CAPPED_PAGE_SIZE = 20

#: name -> (the dialect's answer, the default's answer)
DIALECTS: dict[str, tuple[str, str]] = {
    "zero-pages": ("pageNum counts from 0", "pageNum counts from 1 (0 is read as 1)"),
    "capped-pages": (
        f"list pages hold at most {CAPPED_PAGE_SIZE} rows and carry no total",
        "list pages hold at most 50 rows and carry total",
    ),
    "bare-errors": (
        'error bodies are {"code", "message"} without an error name ("invalid state change", '
        '"Instance Not Found")',
        'error bodies are {"code", "reason", "message", "metadata"} with a Novita error name',
    ),
    "keep-removed": (
        "a deleted instance stays listed and readable as removed",
        "a deleted instance is listed as toRemove/removing, then is gone",
    ),
    "stale-status-error": (
        "a start keeps the instance's old statusError",
        "a start clears the instance's old statusError",
    ),
    "pending": (
        "a start or create first shows the undocumented status pending",
        "only documented statuses",
    ),
}
ALL = "all"


def parse_dialects(names: str | Iterable[str]) -> frozenset[str]:
    """Dialect names from ``"a,b"`` or a list (``all`` = every one); unknown names are refused."""
    given = names.split(",") if isinstance(names, str) else list(names)
    if not all(isinstance(name, str) for name in given):
        raise invalid("dialects", "must be a list of dialect names")
    wanted = {name.strip() for name in given if name.strip()}
    if ALL in wanted:
        return frozenset(DIALECTS)
    unknown = sorted(wanted - set(DIALECTS))
    if unknown:
        raise invalid("dialects", f"unknown {unknown}; known: {', '.join(DIALECTS)} (or {ALL})")
    return frozenset(wanted)


def describe(active: frozenset[str]) -> list[str]:
    """The active dialects in their documented order."""
    return [name for name in DIALECTS if name in active]
