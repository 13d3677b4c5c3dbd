"""The one way this service writes and reads times: ISO-8601 in UTC, milliseconds, a ``Z`` suffix."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(epoch: float) -> str:
    """``2027-01-15T08:00:00.000Z``."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epoch_of_iso(stamp: object) -> float | None:
    """The epoch seconds of an ISO-8601 time (``...Z`` or with an offset); None when it is not one."""
    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    # A time without an offset is read as UTC (this service only writes UTC).
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
