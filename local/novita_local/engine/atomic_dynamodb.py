"""moto's DynamoDB, one request at a time: on AWS every request is atomic, in moto it is not.

moto evaluates an UpdateItem's ``ConditionExpression`` and then writes, with nothing in between to
keep another thread out; so do PutItem and DeleteItem. The local engine runs handlers concurrently,
so two conditional updates of one item could both succeed: 16 threads racing on one item's version
won it twice about once in 30 rounds. Everything shared in this service rests on those conditions
(the rate limiter's slots, the circuit breaker, the per-instance locks, the status snapshot's lease);
under a 200-operation load the limiter admitted about four times its rate and Novita answered 429.
Serving each DynamoDB request under one lock makes it atomic, as it is on AWS; the requests are
in-memory and short, so the lock costs little.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from moto.dynamodb.responses import DynamoHandler


@contextmanager
def atomic_dynamodb_requests() -> Iterator[None]:
    call_action = DynamoHandler.call_action
    lock = threading.RLock()

    def one_at_a_time(self: Any) -> Any:
        with lock:
            return call_action(self)

    own = "call_action" in DynamoHandler.__dict__  # else inherited from moto's BaseResponse
    DynamoHandler.call_action = one_at_a_time  # type: ignore[method-assign]
    try:
        yield
    finally:
        if own:
            DynamoHandler.call_action = call_action  # type: ignore[method-assign]
        else:
            del DynamoHandler.call_action
