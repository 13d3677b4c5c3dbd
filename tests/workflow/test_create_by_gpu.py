"""Create by GPU type on the real startup workflow (local engine, simulator with stock per product and
cluster): the cheapest offer first, the next one when it is sold out, exactly one instance, and a
failure that names every offer it tried."""

from __future__ import annotations

import pytest

from novita_local.engine import LocalEngine
from novita_local.operations import Operation, create_request, run_operation
from novita_local.simulator import Simulator
from tests.support.workflow import (
    assert_each_change_notified_once,
    assert_one_terminal,
    create_bodies,
    reset_world,
)

pytestmark = [pytest.mark.workflow, pytest.mark.timeout(120)]

COMPLETED = "instance.startup.completed"
FAILED = "instance.startup.failed"
RTX = "prod-rtx4090-24g"  # the seed's RTX 4090: every cluster, $0.35/h on demand
US, EU = "cl-us-ca-1", "cl-eu-de-1"


@pytest.fixture(autouse=True)
def fresh_world(engine: LocalEngine, simulator: Simulator) -> None:
    reset_world(engine, simulator, toStart=1, pulling=2, starting=3, app_warmup=1)


def create_on_gpu(engine: LocalEngine, name: str, **gpu: object) -> Operation:
    request = create_request(template_id="tpl-public-nginx", name=name, gpu={"type": "RTX 4090", **gpu})
    return run_operation(engine, request, timeout=60)


def named(simulator: Simulator, name: str) -> list[dict[str, object]]:
    return [i for i in simulator.admin.state()["instances"] if i["name"] == name]


def test_a_sold_out_offer_falls_over_to_the_next_and_creates_exactly_one_instance(
    engine: LocalEngine, simulator: Simulator, dialects: tuple[str, ...]
):
    simulator.admin.set_stock(RTX, US, 0)  # listed as deployable, but nothing left in the first region

    operation = create_on_gpu(engine, "failover-box", regions=[US, EU])

    summary = operation.summary()
    assert summary["status"] == "ready", summary
    assert_one_terminal(operation.notification_types(), COMPLETED)
    assert_each_change_notified_once(operation)
    # Tried in the order asked (equal price), the sold-out one first; one instance in all.
    assert [(b["productId"], b["clusterId"]) for b in create_bodies(simulator)] == [(RTX, US), (RTX, EU)]
    (instance,) = named(simulator, "failover-box")
    assert instance["id"] == summary["instanceId"]
    assert instance["clusterId"] == EU
    assert summary["productId"] == RTX
    assert summary["offer"]["clusterId"] == EU
    assert summary["offer"]["pricePerHour"] == pytest.approx(0.35)
    tried = summary["offersTried"]
    assert [(t["clusterId"], t["outcome"].split(" ")[0]) for t in tried] == [(US, "sold"), (EU, "created")]
    assert "INSUFFICIENT_RESOURCE" in tried[0]["outcome"]


def test_every_offer_sold_out_fails_naming_each_and_creates_nothing(
    engine: LocalEngine, simulator: Simulator
):
    simulator.admin.set_stock(RTX, US, 0)
    simulator.admin.set_stock(RTX, EU, 0)

    operation = create_on_gpu(engine, "nowhere-box", regions=[EU, US], count=2)

    summary = operation.summary()
    assert summary["status"] == "failed", summary
    assert_one_terminal(operation.notification_types(), FAILED)
    outcome = summary["outcome"]
    assert outcome["code"] == "NO_CAPACITY"
    message = outcome["message"]
    # Each offer named, in the order tried, with why it was passed over.
    assert message.index(f"in {EU}") < message.index(f"in {US}"), message
    assert message.count(f"({RTX}) x2 in") == 2 and message.count("sold out (") == 2, message
    assert "x2" in message and "$0.70/h" in message, message
    assert [b["clusterId"] for b in create_bodies(simulator)] == [EU, US]
    assert named(simulator, "nowhere-box") == []


def test_no_offer_under_the_price_cap_fails_before_any_create(engine: LocalEngine, simulator: Simulator):
    operation = create_on_gpu(engine, "cheap-box", maxPricePerHour=0.2)

    summary = operation.summary()
    assert summary["status"] == "failed", summary
    assert summary["outcome"]["code"] == "NO_MATCHING_OFFER"
    assert "over maxPricePerHour" in summary["outcome"]["message"]
    assert create_bodies(simulator) == []
