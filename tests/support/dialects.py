"""The simulator's dialects as test parameters.

A test that takes the ``dialects`` fixture runs against the simulator speaking the default answers
and all dialects at once; marked ``every_dialect`` it also runs under each dialect alone (the full
matrix is kept for the tests whose outcome a dialect can change, to keep ``make test`` short).
"""

from __future__ import annotations

from novita_local.engine.engine import active_engine
from novita_local.simulator.dialects import DIALECTS

ALL: tuple[str, ...] = tuple(DIALECTS)
#: Default answers, each dialect alone, and all at once.
EVERY: list[tuple[str, ...]] = [(), *((name,) for name in ALL), ALL]
#: Default answers and all dialects at once.
BOTH: list[tuple[str, ...]] = [(), ALL]


def dialect_id(names: tuple[str, ...]) -> str:
    if not names:
        return "default"
    return "all-dialects" if set(names) == set(ALL) else "+".join(names)


def forget_learned_paging() -> None:
    """A process talks to one Novita; a test switching dialects cold-starts the running engine's
    functions, so their clients (built at init) learn page numbering and cap afresh."""
    engine = active_engine()
    if engine is not None:
        engine.restart_functions()
