"""Where settings read their variables: the process environment, or one handler call's own.

On Lambda each process runs one function, so this is ``os.environ``. The local engine runs every
function of the template in one process, concurrently; it gives each handler call its function's
environment through :func:`function_environment` (a context variable, so concurrent calls in other
threads each see their own and nothing rewrites ``os.environ`` under them).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar

_CURRENT: ContextVar[Mapping[str, str] | None] = ContextVar("novita_orchestrator_environment", default=None)


def current_environment() -> Mapping[str, str]:
    """The variables the settings of this call read."""
    variables = _CURRENT.get()
    return os.environ if variables is None else variables


@contextmanager
def function_environment(variables: Mapping[str, str]) -> Iterator[None]:
    """Run the block (in this thread) with ``variables`` as the whole environment the settings read."""
    token = _CURRENT.set(dict(variables))
    try:
        yield
    finally:
        _CURRENT.reset(token)
