"""The retry loop of the Novita client (tenacity), bounded in attempts and in time.

A call attempt asks for another try by raising :class:`RetryAttempt` around the error it met; any
other exception ends the call at once. So *what* is safe to repeat is decided by the caller (reads,
start/stop after a state check, create after a name lookup) and *how* to wait is decided here:

* exponential backoff with jitter: before retry ``n`` the client sleeps a random time between
  ``NOVITA_RETRY_BASE_SECONDS`` and ``min(NOVITA_RETRY_MAX_SECONDS, base * 2**n)``;
* a 429 waits at least the server's ``Retry-After``;
* at most ``NOVITA_MAX_ATTEMPTS`` attempts, and never a sleep that would end past the call's
  deadline (``NOVITA_RETRY_BUDGET_SECONDS`` after it started, or the Lambda invocation's end if that
  comes first: :mod:`novita_orchestrator.invocation`): then the last error is raised as is;
* each attempt's connect and read timeouts are cut to what is left before that deadline;
* a retry the guard refuses (no rate-limit slot before the deadline) also ends the call with the
  error that caused the retry: the caller's problem is that Novita failed, not our limiter.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception_type, wait_random_exponential

from novita_orchestrator.clock import Clock
from novita_orchestrator.invocation import clock_scale, deadline_on
from novita_orchestrator.novita.errors import NoRequestSlot, NovitaError, RateLimited
from novita_orchestrator.observability import logger
from novita_orchestrator.settings import NovitaSettings

T = TypeVar("T")


class RetryAttempt(Exception):
    """Raised by an attempt to say "this failed with ``error`` and may be tried again"."""

    def __init__(self, error: NovitaError) -> None:
        super().__init__(str(error))
        self.error = error


class RetryPolicy:
    """Runs one Novita call: attempts, backoff, Retry-After and the time budget."""

    def __init__(self, settings: NovitaSettings, clock: Clock) -> None:
        self._clock = clock
        self.max_attempts = settings.NOVITA_MAX_ATTEMPTS
        self.budget_seconds = settings.NOVITA_RETRY_BUDGET_SECONDS
        base = settings.NOVITA_RETRY_BASE_SECONDS
        self.base_seconds = base
        self.max_seconds = max(base, settings.NOVITA_RETRY_MAX_SECONDS)
        # Doubling the multiplier puts jitter on the first retry too: [base, 2*base], [base, 4*base], ...
        self._backoff = wait_random_exponential(multiplier=2 * base, min=base, max=self.max_seconds)

    def deadline(self) -> float:
        """When a call starting now must give up (clock time): its budget, or the invocation's end if
        that comes first (a function's Novita budget so fits its own timeout)."""
        budget_end = self._clock.now() + self.budget_seconds
        invocation_end = deadline_on(self._clock)
        return budget_end if invocation_end is None else min(budget_end, invocation_end)

    def attempt_timeout(self, timeout: tuple[float, float], deadline: float) -> tuple[float, float] | None:
        """The (connect, read) timeouts of an attempt starting now, cut to what is left before
        ``deadline`` (so the attempt in flight ends by it too); None when nothing is left."""
        left = (deadline - self._clock.now()) / clock_scale(self._clock)
        if left <= 0:
            return None
        return (min(timeout[0], left), min(timeout[1], left))

    def run(
        self, operation: str, deadline: float, attempt: Callable[[], T], *, max_attempts: int | None = None
    ) -> T:
        """Call ``attempt`` until it returns, raises something other than RetryAttempt, or limits are hit
        (``max_attempts`` lowers the configured count for this call)."""
        attempts = min(self.max_attempts, max_attempts or self.max_attempts)

        def wait(state: RetryCallState) -> float:
            delay = float(self._backoff(state))
            error = _error_of(state)
            if isinstance(error, RateLimited) and error.retry_after is not None:
                delay = max(delay, error.retry_after)
            return delay

        def stop(state: RetryCallState) -> bool:
            if state.attempt_number >= attempts:
                return True
            # A wait that would end past the deadline (e.g. a long Retry-After) ends the call now.
            return self._clock.now() + state.upcoming_sleep > deadline

        def log_retry(state: RetryCallState) -> None:
            error = _error_of(state)
            logger.warning(
                "Novita call failed, retrying",
                extra={
                    "operation": operation,
                    "attempt": state.attempt_number,
                    "error_code": error.code if error else None,
                    "http_status": error.status if error else None,
                    "reason": error.reason if error else None,
                    "sleep_seconds": round(state.upcoming_sleep, 3),
                },
            )

        retrying = Retrying(
            retry=retry_if_exception_type(RetryAttempt),
            wait=wait,
            stop=stop,
            sleep=self._clock.sleep,
            before_sleep=log_retry,
            reraise=True,
        )
        failed: list[NovitaError] = []

        def remembering_attempt() -> T:
            try:
                return attempt()
            except RetryAttempt as retry:
                failed.append(retry.error)
                raise
            except NoRequestSlot:
                if failed:
                    raise failed[-1] from None
                raise

        try:
            return retrying(remembering_attempt)
        except RetryAttempt as exhausted:
            raise exhausted.error from None


def _error_of(state: RetryCallState) -> NovitaError | None:
    exc = state.outcome.exception() if state.outcome else None
    return exc.error if isinstance(exc, RetryAttempt) else None
