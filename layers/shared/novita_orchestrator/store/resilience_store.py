"""DynamoDB adapter for the shared circuit breaker and rate limiter (the ``ResilienceTable``).

One item per breaker (``pk = breaker#<name>``) and one per limiter (``pk = limiter#<name>``). Every
change is a single ``UpdateItem`` / ``PutItem`` with a condition; a failed condition is a lost race,
reported to the logic as ``None`` / ``granted=False`` (never an exception); any other DynamoDB
failure is :class:`StoreUnavailable`.

Times that conditions compare for *equality* (the window start) are stored to the millisecond, so
they survive the trip through a float unchanged; the bucket's arrival time is only compared by
order and keeps sub-microsecond precision.
"""

from __future__ import annotations

import re
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from novita_orchestrator.clock import Clock
from novita_orchestrator.resilience.breaker import BreakerRecord, BreakerState
from novita_orchestrator.resilience.errors import StoreUnavailable
from novita_orchestrator.resilience.rate_limiter import LimiterRecord, Reservation

KEY = "pk"
TTL_ATTRIBUTE = "expiresAt"
#: Items no one has written for this long are left to DynamoDB's TTL; they read back as the defaults
#: (a CLOSED breaker, an idle bucket), which is what an untouched item means anyway.
ITEM_LIFETIME_SECONDS = 7 * 24 * 3600

_BREAKER_NAMES = {
    "#st": "st",
    "#gen": "gen",
    "#c": "consecutive",
    "#ws": "windowStart",
    "#wf": "windowFailures",
    "#wsu": "windowSuccesses",
    "#p": "probes",
    "#ps": "probeSuccesses",
    "#exp": TTL_ATTRIBUTE,
}


def _stamp(epoch: float) -> dict[str, str]:
    """A time compared for equality: milliseconds, which a float round-trips exactly."""
    return {"N": f"{epoch:.3f}"}


def _time(epoch: float) -> dict[str, str]:
    return {"N": f"{epoch:.6f}"}


def _int(value: int) -> dict[str, str]:
    return {"N": str(value)}


def _num(item: dict[str, Any], attribute: str) -> float:
    value = item.get(attribute)
    return float(value["N"]) if value else 0.0


def _count(item: dict[str, Any], attribute: str) -> int:
    value = item.get(attribute)
    return int(value["N"]) if value else 0


class DynamoResilienceStore:
    """Implements :class:`BreakerStore` and :class:`LimiterStore` on one DynamoDB table."""

    def __init__(self, client: Any, table_name: str, clock: Clock) -> None:
        self._client = client
        self._table = table_name
        self._clock = clock

    # --- plumbing ------------------------------------------------------------------------------

    def _call(self, operation: str, **kwargs: Any) -> tuple[bool, dict[str, Any]]:
        """Run one request: ``(True, response)``, or ``(False, current item)`` when its condition failed
        (the item is empty unless the request asked for it with ``ReturnValuesOnConditionCheckFailure``)."""
        try:
            response: dict[str, Any] = getattr(self._client, operation)(TableName=self._table, **kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "Unknown")
            if code != "ConditionalCheckFailedException":
                raise StoreUnavailable(
                    f"DynamoDB {operation} on the resilience table failed: {code}"
                ) from exc
            current: dict[str, Any] = exc.response.get("Item") or {}
            return False, current
        except BotoCoreError as exc:  # connection refused, timeouts, no credentials, ...
            raise StoreUnavailable(
                f"DynamoDB {operation} on the resilience table failed: {type(exc).__name__}"
            ) from exc
        return True, response

    def _expires(self) -> dict[str, str]:
        return _int(int(self._clock.now()) + ITEM_LIFETIME_SECONDS)

    def _get(self, key: str) -> dict[str, Any]:
        _, response = self._call("get_item", Key={KEY: {"S": key}}, ConsistentRead=True)
        item: dict[str, Any] = response.get("Item") or {}
        return item

    # --- breaker -------------------------------------------------------------------------------

    @staticmethod
    def _breaker_key(name: str) -> dict[str, Any]:
        return {KEY: {"S": f"breaker#{name}"}}

    @staticmethod
    def _to_breaker(item: dict[str, Any]) -> BreakerRecord:
        if not item:
            return BreakerRecord()
        return BreakerRecord(
            state=BreakerState(item["st"]["S"]) if "st" in item else BreakerState.CLOSED,
            generation=_count(item, "gen"),
            consecutive_failures=_count(item, "consecutive"),
            window_started_at=_num(item, "windowStart"),
            window_failures=_count(item, "windowFailures"),
            window_successes=_count(item, "windowSuccesses"),
            retry_at=_num(item, "retryAt"),
            probes_admitted=_count(item, "probes"),
            probe_successes=_count(item, "probeSuccesses"),
            opened_count=_count(item, "opened"),
            changed_at=_num(item, "changedAt"),
            opened_because=item.get("because", {}).get("S", ""),
        )

    @staticmethod
    def _is(state: BreakerState, generation: int) -> str:
        # Generation 0 CLOSED is also what a missing item means.
        if state is BreakerState.CLOSED and generation == 0:
            return "(attribute_not_exists(#st) OR (#st = :st AND #gen = :gen))"
        return "(#st = :st AND #gen = :gen)"

    @staticmethod
    def _window_is(window_started_at: float) -> str:
        if window_started_at == 0:
            return "(attribute_not_exists(#ws) OR #ws = :ws)"
        return "#ws = :ws"

    def _update_breaker(
        self, name: str, update: str, condition: str, values: dict[str, Any]
    ) -> BreakerRecord | None:
        # DynamoDB rejects declared names an expression does not use: declare exactly the used ones.
        used = set(re.findall(r"#\w+", f"{update} {condition}"))
        written, response = self._call(
            "update_item",
            Key=self._breaker_key(name),
            UpdateExpression=update,
            ConditionExpression=condition,
            ExpressionAttributeNames={n: _BREAKER_NAMES[n] for n in sorted(used)},
            ExpressionAttributeValues={**values, ":exp": self._expires()},
            ReturnValues="ALL_NEW",
        )
        return self._to_breaker(response["Attributes"]) if written else None

    def load_breaker(self, name: str) -> BreakerRecord:
        return self._to_breaker(self._get(f"breaker#{name}"))

    def count_failure(
        self, name: str, *, generation: int, window_started_at: float, restart_window_at: float | None
    ) -> BreakerRecord | None:
        values = {
            ":st": {"S": BreakerState.CLOSED.value},
            ":gen": _int(generation),
            ":ws": _stamp(window_started_at),
            ":one": _int(1),
        }
        if restart_window_at is not None:
            update = (
                "SET #st = :st, #gen = :gen, #ws = :now, #wf = :one, #wsu = :zero, #exp = :exp ADD #c :one"
            )
            values |= {":now": _stamp(restart_window_at), ":zero": _int(0)}
        else:
            update = "SET #st = :st, #gen = :gen, #exp = :exp ADD #c :one, #wf :one"
        condition = f"{self._is(BreakerState.CLOSED, generation)} AND {self._window_is(window_started_at)}"
        return self._update_breaker(name, update, condition, values)

    def count_success(self, name: str, *, generation: int, window_started_at: float) -> BreakerRecord | None:
        values = {
            ":st": {"S": BreakerState.CLOSED.value},
            ":gen": _int(generation),
            ":ws": _stamp(window_started_at),
            ":one": _int(1),
            ":zero": _int(0),
        }
        condition = f"{self._is(BreakerState.CLOSED, generation)} AND {self._window_is(window_started_at)}"
        return self._update_breaker(name, "SET #c = :zero, #exp = :exp ADD #wsu :one", condition, values)

    def admit_probe(self, name: str, *, generation: int, max_probes: int) -> BreakerRecord | None:
        values = {
            ":st": {"S": BreakerState.HALF_OPEN.value},
            ":gen": _int(generation),
            ":max": _int(max_probes),
            ":one": _int(1),
        }
        condition = (
            f"{self._is(BreakerState.HALF_OPEN, generation)} AND (attribute_not_exists(#p) OR #p < :max)"
        )
        return self._update_breaker(name, "SET #exp = :exp ADD #p :one", condition, values)

    def count_probe_success(self, name: str, *, generation: int) -> BreakerRecord | None:
        values = {":st": {"S": BreakerState.HALF_OPEN.value}, ":gen": _int(generation), ":one": _int(1)}
        return self._update_breaker(
            name, "SET #exp = :exp ADD #ps :one", self._is(BreakerState.HALF_OPEN, generation), values
        )

    def replace_breaker(
        self, name: str, *, expected_state: BreakerState, expected_generation: int, record: BreakerRecord
    ) -> bool:
        item = {
            **self._breaker_key(name),
            "st": {"S": record.state.value},
            "gen": _int(record.generation),
            "consecutive": _int(record.consecutive_failures),
            "windowStart": _stamp(record.window_started_at),
            "windowFailures": _int(record.window_failures),
            "windowSuccesses": _int(record.window_successes),
            "retryAt": _stamp(record.retry_at),
            "probes": _int(record.probes_admitted),
            "probeSuccesses": _int(record.probe_successes),
            "opened": _int(record.opened_count),
            "changedAt": _stamp(record.changed_at),
            TTL_ATTRIBUTE: self._expires(),
        }
        if record.opened_because:
            item["because"] = {"S": record.opened_because}
        written, _ = self._call(
            "put_item",
            Item=item,
            ConditionExpression=self._is(expected_state, expected_generation),
            ExpressionAttributeNames={"#st": "st", "#gen": "gen"},
            ExpressionAttributeValues={":st": {"S": expected_state.value}, ":gen": _int(expected_generation)},
        )
        return written

    # --- limiter -------------------------------------------------------------------------------

    @staticmethod
    def _limiter_key(name: str) -> dict[str, Any]:
        return {KEY: {"S": f"limiter#{name}"}}

    @staticmethod
    def _to_limiter(item: dict[str, Any]) -> LimiterRecord:
        return LimiterRecord(theoretical_arrival=_num(item, "tat"), hold_until=_num(item, "holdUntil"))

    def load_limiter(self, name: str) -> LimiterRecord:
        return self._to_limiter(self._get(f"limiter#{name}"))

    def _reserve(self, name: str, update: str, condition: str, values: dict[str, Any]) -> Reservation:
        granted, response = self._call(
            "update_item",
            Key=self._limiter_key(name),
            UpdateExpression=update,
            ConditionExpression=condition,
            ExpressionAttributeNames={"#tat": "tat", "#exp": TTL_ATTRIBUTE},
            ExpressionAttributeValues={**values, ":exp": self._expires()},
            ReturnValues="ALL_NEW",
            # A refusal brings the current bucket back with it: no second call to learn the wait.
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        return Reservation(
            granted=granted, record=self._to_limiter(response["Attributes"] if granted else response)
        )

    def reserve_when_idle(self, name: str, *, now: float, interval: float) -> Reservation:
        return self._reserve(
            name,
            "SET #tat = :next, #exp = :exp",
            "attribute_not_exists(#tat) OR #tat <= :now",
            {":now": _time(now), ":next": _time(now + interval)},
        )

    def reserve_after_queue(
        self, name: str, *, now: float, interval: float, latest_arrival: float
    ) -> Reservation:
        return self._reserve(
            name,
            "SET #tat = #tat + :interval, #exp = :exp",
            "#tat > :now AND #tat <= :latest",
            {":now": _time(now), ":latest": _time(latest_arrival), ":interval": {"N": f"{interval:.9f}"}},
        )

    def hold_back(self, name: str, *, until: float, arrival_floor: float) -> LimiterRecord:
        # Two conditional raises (a rare path: only after a 429); each only ever moves a value up.
        self._call(
            "update_item",
            Key=self._limiter_key(name),
            UpdateExpression="SET #hold = :until, #exp = :exp",
            ConditionExpression="attribute_not_exists(#hold) OR #hold < :until",
            ExpressionAttributeNames={"#hold": "holdUntil", "#exp": TTL_ATTRIBUTE},
            ExpressionAttributeValues={":until": _time(until), ":exp": self._expires()},
        )
        raised, response = self._call(
            "update_item",
            Key=self._limiter_key(name),
            UpdateExpression="SET #tat = :floor, #exp = :exp",
            ConditionExpression="attribute_not_exists(#tat) OR #tat < :floor",
            ExpressionAttributeNames={"#tat": "tat", "#exp": TTL_ATTRIBUTE},
            ExpressionAttributeValues={":floor": _time(arrival_floor), ":exp": self._expires()},
            ReturnValues="ALL_NEW",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        return self._to_limiter(response["Attributes"] if raised else response)
