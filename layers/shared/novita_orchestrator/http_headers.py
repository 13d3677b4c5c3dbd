"""HTTP header values the service reads from the servers it calls (Novita, webhook receivers)."""

from __future__ import annotations

import math
from email.utils import parsedate_to_datetime


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` value, or None when it is absent or unusable.

    RFC 9110 allows whole delta-seconds or an HTTP-date. A decimal such as ``"1.5"`` is read as the
    seconds it says (a server that sends one means it; rounding it away would retry early); a
    negative or non-finite number, or a date without a zone, is unusable. A date in the past means 0.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:  # an HTTP-date is always GMT
        return None
    return max(0.0, moment.timestamp() - now)
