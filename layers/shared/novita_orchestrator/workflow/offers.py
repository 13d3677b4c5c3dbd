"""Create by GPU type: which of Novita's products match a ``gpu`` request, and in which order to try
them (no I/O).

Prices: Novita documents ``price`` as an integer with no unit; a live-tested client reads it as a
string in 1/100000 USD per GPU-hour (``"67000"`` = $0.67/h). The unit is a setting
(``NOVITA_PRICE_UNIT_USD``) rather than a guess buried here, and a price that is missing, empty or
not a positive number is "unknown": such an offer is tried last, and never under ``maxPricePerHour``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from novita_orchestrator.novita.models import Product
from novita_orchestrator.workflow.request import CreateSpec, GpuSpec
from novita_orchestrator.workflow.state import Offer

#: 1/100000 USD: the unit of Novita's product prices as a live-tested client reads them.
DEFAULT_PRICE_UNIT_USD = 0.00001
#: The most offers one operation carries (and tries): its state and its failure message stay small.
MAX_OFFERS = 10


@dataclass(frozen=True)
class Rejected:
    """A product of the asked GPU type that is not offered, and why (for the "no offer" message)."""

    product: Product
    reason: str

    def describe(self) -> str:
        return f"{self.product.name or self.product.id} ({self.product.id}): {self.reason}"


def requested_offer(create: CreateSpec) -> Offer:
    """The one offer of a create that names its ``productId`` (and maybe its cluster)."""
    assert create.productId is not None
    return Offer(product_id=create.productId, cluster_id=create.clusterId, gpu_num=create.gpuNum or 1)


def type_matches(gpu_type: str, product_name: str) -> bool:
    """``"RTX 4090"`` matches ``"RTX 4090 24GB"`` but not ``"RTX 4090D"``: whole words, any case."""
    wanted = " ".join(gpu_type.lower().split())
    name = " ".join(product_name.lower().split())
    return re.search(rf"(?<![a-z0-9]){re.escape(wanted)}(?![a-z0-9])", name) is not None


def hourly_price(product: Product, gpu: GpuSpec, unit_usd: float) -> float | None:
    """USD per hour for ``gpu.count`` GPUs of the product at the asked billing, if Novita gave one."""
    raw = product.price if gpu.billing == "onDemand" else product.spot_price
    if raw is None or raw <= 0:
        return None
    return round(raw * unit_usd * gpu.count, 6)


def choose_offers(
    products: Iterable[Product], gpu: GpuSpec, *, unit_usd: float, rootfs_gb: int | None = None
) -> tuple[list[Offer], list[Rejected]]:
    """The offers to try (cheapest first, then in the order of ``gpu.regions``) and the products of
    the asked type left out, with the reason."""
    ranked: list[tuple[tuple[bool, float, int, str], Offer]] = []
    rejected: list[Rejected] = []
    for product in products:
        if not type_matches(gpu.type, product.name):
            continue
        price = hourly_price(product, gpu, unit_usd)
        reason = _left_out(product, gpu, price, rootfs_gb)
        clusters = _clusters(product, gpu)
        if reason is None and not clusters:
            reason = f"not offered in {', '.join(gpu.regions)}"
        if reason is not None:
            rejected.append(Rejected(product, reason))
            continue
        for cluster in clusters:
            offer = Offer(
                product_id=product.id,
                product_name=product.name,
                cluster_id=cluster,
                gpu_num=gpu.count,
                billing=gpu.billing,
                price_per_hour=price,
            )
            order = gpu.regions.index(cluster) if cluster in gpu.regions else 0
            ranked.append(((price is None, price or 0.0, order, product.id), offer))
    ranked.sort(key=lambda item: item[0])
    return [offer for _, offer in ranked[:MAX_OFFERS]], rejected


def _left_out(product: Product, gpu: GpuSpec, price: float | None, rootfs_gb: int | None) -> str | None:
    if not product.available_deploy:
        return "not deployable now (availableDeploy false)"
    if product.billing_methods and gpu.billing not in product.billing_methods:
        return f"no {gpu.billing} billing"
    if gpu.maxPricePerHour is not None:
        if price is None:
            return "no usable price, so not provably under maxPricePerHour"
        if price > gpu.maxPricePerHour:
            return f"${price:.2f}/h is over maxPricePerHour ${gpu.maxPricePerHour:.2f}/h"
    if rootfs_gb is not None and product.max_root_fs and rootfs_gb > product.max_root_fs:
        return f"rootfsSize {rootfs_gb} GB is over its {product.max_root_fs} GB"
    return None


def _clusters(product: Product, gpu: GpuSpec) -> list[str | None]:
    """The clusters to try: the asked regions the product is in (all, when it lists none), else its
    own list, else Novita's choice (None)."""
    if gpu.regions:
        return [r for r in gpu.regions if not product.regions or r in product.regions]
    return list(product.regions) or [None]


def describe_request(gpu: GpuSpec) -> str:
    """``gpu.type 'RTX 4090' x1, onDemand, regions cl-a, cl-b, at most $1.00/h``"""
    parts = [f"gpu.type {gpu.type!r} x{gpu.count}", gpu.billing]
    if gpu.regions:
        parts.append(f"regions {', '.join(gpu.regions)}")
    if gpu.maxPricePerHour is not None:
        parts.append(f"at most ${gpu.maxPricePerHour:.2f}/h")
    return ", ".join(parts)
