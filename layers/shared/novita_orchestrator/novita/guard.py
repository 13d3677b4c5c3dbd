"""The hook through which shared resilience (circuit breaker, rate limiter) wraps every Novita request.

The client calls the guard around *each HTTP attempt*, retries included, so the shared limiter
counts every request Novita sees and the breaker sees every failure.
"""

from __future__ import annotations

from typing import Protocol

from novita_orchestrator.novita.errors import NovitaError


class CallGuard(Protocol):
    def before_request(self, operation: str, deadline: float) -> None:
        """Block until the request may be sent, or raise (e.g. breaker open, no rate slot before deadline).

        ``deadline`` is an epoch time (the clock's ``now()`` scale) after which the caller gives up.
        """
        ...

    def on_success(self, operation: str) -> None: ...

    def on_failure(self, operation: str, error: NovitaError) -> None:
        """Record a failed attempt; the guard decides what counts (only retryable kinds trip a breaker)."""
        ...


class NoGuard:
    """No shared resilience: every request goes straight out."""

    def before_request(self, operation: str, deadline: float) -> None:
        return None

    def on_success(self, operation: str) -> None:
        return None

    def on_failure(self, operation: str, error: NovitaError) -> None:
        return None
