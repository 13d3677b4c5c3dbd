"""Which Novita products a create by GPU type tries, in which order, and what the request accepts."""

from __future__ import annotations

from typing import Any

import pytest

from novita_orchestrator.novita.models import Product
from novita_orchestrator.workflow.errors import InvalidRequest
from novita_orchestrator.workflow.offers import choose_offers, type_matches
from novita_orchestrator.workflow.request import GpuSpec, parse_request

UNIT = 0.00001


def product(pid: str, name: str, price: Any, **fields: Any) -> Product:
    row = {"id": pid, "name": name, "price": price, "availableDeploy": True, **fields}
    return Product.model_validate(row)


@pytest.mark.parametrize(
    ("wanted", "name", "matches"),
    [
        ("RTX 4090", "RTX 4090 24GB", True),
        ("rtx  4090", "RTX 4090 24GB", True),
        ("RTX 4090", "RTX 4090D 24GB", False),
        ("A100", "A100 SXM 80GB", True),
        ("A10", "A100 SXM 80GB", False),
        ("H100", "NVIDIA H100 SXM", True),
    ],
)
def test_the_gpu_type_matches_whole_words_of_the_product_name(wanted: str, name: str, matches: bool) -> None:
    assert type_matches(wanted, name) is matches


def test_offers_go_cheapest_first_then_in_the_region_order_given() -> None:
    products = [
        product("p-dear", "RTX 4090 24GB", "90000", regions=["cl-a", "cl-b"]),
        product("p-cheap", "RTX 4090 24GB", "35000", regions=[]),  # every cluster
        product("p-other", "A100 80GB", "1000"),
    ]
    gpu = GpuSpec(type="RTX 4090", count=2, regions=["cl-b", "cl-a"])
    offers, rejected = choose_offers(products, gpu, unit_usd=UNIT)
    assert [(o.product_id, o.cluster_id) for o in offers] == [
        ("p-cheap", "cl-b"),
        ("p-cheap", "cl-a"),
        ("p-dear", "cl-b"),
        ("p-dear", "cl-a"),
    ]
    assert offers[0].price_per_hour == pytest.approx(0.70)  # 2 GPUs x $0.35
    assert offers[0].gpu_num == 2 and rejected == []


def test_without_regions_a_product_is_tried_in_each_of_its_clusters_or_where_novita_picks() -> None:
    products = [product("p-listed", "RTX 4090", 100, regions=["cl-x"]), product("p-any", "RTX 4090", 200)]
    offers, _ = choose_offers(products, GpuSpec(type="RTX 4090"), unit_usd=UNIT)
    assert [(o.product_id, o.cluster_id) for o in offers] == [("p-listed", "cl-x"), ("p-any", None)]


def test_products_left_out_say_why() -> None:
    products = [
        product("p-busy", "RTX 4090", 100, availableDeploy=False),
        product("p-dear", "RTX 4090", 500_000),
        product("p-nospot", "RTX 4090", 100, billingMethods=["onDemand"]),
        product("p-away", "RTX 4090", 100, regions=["cl-far"]),
    ]
    gpu = GpuSpec(type="RTX 4090", regions=["cl-near"], maxPricePerHour=1.0)
    offers, rejected = choose_offers([p for p in products if p.id != "p-nospot"], gpu, unit_usd=UNIT)
    assert offers == []
    why = {r.product.id: r.reason for r in rejected}
    assert "availableDeploy" in why["p-busy"]
    assert "over maxPricePerHour" in why["p-dear"]
    assert why["p-away"] == "not offered in cl-near"
    spot = GpuSpec(type="RTX 4090", billing="spot")
    _, rejected = choose_offers(products[2:3], spot, unit_usd=UNIT)
    assert rejected[0].reason == "no spot billing"


def test_a_missing_or_empty_price_is_unknown_tried_last_and_never_under_a_cap() -> None:
    products = [
        product("p-unknown", "RTX 4090", None, spotPrice=""),
        product("p-known", "RTX 4090", 200, spotPrice="18000"),
    ]
    offers, _ = choose_offers(products, GpuSpec(type="RTX 4090"), unit_usd=UNIT)
    assert [o.product_id for o in offers] == ["p-known", "p-unknown"]
    assert offers[1].price_per_hour is None
    spot = GpuSpec(type="RTX 4090", billing="spot", maxPricePerHour=5)
    offers, rejected = choose_offers(products, spot, unit_usd=UNIT)
    assert [o.product_id for o in offers] == ["p-known"]
    assert offers[0].price_per_hour == pytest.approx(0.18)
    assert "no usable price" in rejected[0].reason


def test_the_price_unit_is_the_setting_not_a_guess() -> None:
    (offer,), _ = choose_offers(
        [product("p", "RTX 4090", "35000")], GpuSpec(type="RTX 4090"), unit_usd=0.0001
    )
    assert offer.price_per_hour == pytest.approx(3.5)


@pytest.mark.parametrize(
    ("create", "problem"),
    [
        ({"templateId": "t", "name": "n"}, "create.productId: name exactly one of productId or gpu"),
        ({"templateId": "t", "name": "n", "productId": "p", "gpu": {"type": "x"}}, "exactly one"),
        ({"templateId": "t", "name": "n", "gpuNum": 2, "gpu": {"type": "x"}}, "gpuNum cannot be combined"),
        ({"templateId": "t", "name": "n", "gpu": {"type": "x", "count": 9}}, "create.gpu.count"),
        ({"templateId": "t", "name": "n", "gpu": {"type": "x", "billing": "monthly"}}, "create.gpu.billing"),
        ({"templateId": "t", "name": "n", "gpu": {"type": "x", "maxPricePerHour": 0}}, "maxPricePerHour"),
        ({"templateId": "t", "name": "n", "gpu": {"type": "x", "regions": ["a", "a"]}}, "must not repeat"),
    ],
)
def test_a_bad_gpu_request_names_the_field(create: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        parse_request({"create": create})
    assert problem in str(raised.value)
