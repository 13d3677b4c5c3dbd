"""Request validation for the simulated API, following the limits in Novita's create-instance docs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from novita_local.simulator.errors import JSON, invalid

PORT_TYPES = ("http", "tcp")
RESERVED_PORTS = frozenset({2222, 2223, 2224})
MAX_PORTS = 15
MAX_ENVS = 100
MIN_ROOTFS_GB = 10
MAX_ROOTFS_GB = 6144
KINDS = ("gpu", "cpu")
BILLING_MODES = ("onDemand", "monthly", "spot")

Ports = list[tuple[int, str]]


def parse_ports(text: str, field: str = "ports") -> Ports:
    """``"8080/http, 22/tcp"`` -> ``[(8080, "http"), (22, "tcp")]``."""
    ports: Ports = []
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        number, sep, kind = item.partition("/")
        kind = kind.strip().lower()
        if not sep or kind not in PORT_TYPES:
            raise invalid(field, f"{item!r} is not '<port>/http' or '<port>/tcp'")
        try:
            port = int(number.strip())
        except ValueError:
            raise invalid(field, f"{item!r} has no port number") from None
        if not 1 <= port <= 65535 or port in RESERVED_PORTS:
            raise invalid(field, f"port {port} is outside 1-65535 or reserved (2222-2224)")
        ports.append((port, kind))
    if len(ports) > MAX_PORTS:
        raise invalid(field, f"at most {MAX_PORTS} ports")
    return ports


def require_object(body: Any, field: str = "body") -> JSON:
    if not isinstance(body, dict):
        raise invalid(field, "must be a JSON object")
    return body


def string_field(
    body: JSON, field: str, *, required: bool = False, max_len: int = 255, default: str = ""
) -> str:
    value = body.get(field)
    if value is None or value == "":
        if required:
            raise invalid(field, "is required")
        return default
    if not isinstance(value, str):
        raise invalid(field, "must be a string")
    if len(value) > max_len:
        raise invalid(field, f"must be at most {max_len} characters")
    return value


def int_field(body: JSON, field: str, *, required: bool = False, default: int = 0) -> int:
    value = body.get(field)
    if value is None:
        if required:
            raise invalid(field, "is required")
        return default
    # bool is an int in Python but never a valid count in JSON.
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(field, "must be an integer")
    return value


def envs_field(body: JSON, field: str = "envs") -> list[dict[str, str]]:
    value = body.get(field)
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid(field, "must be a list of {key, value}")
    if len(value) > MAX_ENVS:
        raise invalid(field, f"at most {MAX_ENVS} entries")
    envs: list[dict[str, str]] = []
    for entry in value:
        if not isinstance(entry, dict):
            raise invalid(field, "each entry must be {key, value}")
        key, val = entry.get("key"), entry.get("value", "")
        if not isinstance(key, str) or not isinstance(val, str):
            raise invalid(field, "key and value must be strings")
        if len(key) > 511 or len(val) > 4095:
            raise invalid(field, "key at most 511 and value at most 4095 characters")
        envs.append({"key": key, "value": val})
    return envs


def query_int(query: dict[str, str], field: str, default: int) -> int:
    raw = query.get(field, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid(field, "must be an integer") from None
    if value < 0:
        raise invalid(field, "must be >= 0")
    return value


@dataclass(frozen=True)
class CreateRequest:
    name: str
    product_id: str
    gpu_num: int
    rootfs_size: int
    image_url: str
    image_auth: str
    image_auth_id: str
    ports: Ports
    envs: list[dict[str, str]]
    command: str
    entrypoint: str
    cluster_id: str
    kind: str
    billing_mode: str


def parse_create(body: Any) -> CreateRequest:
    """Field-level checks of ``POST /gpu/instance/create``; product and auth lookups happen later."""
    data = require_object(body)
    kind = string_field(data, "kind", required=True)
    if kind not in KINDS:
        raise invalid("kind", "must be 'gpu' or 'cpu'")
    gpu = kind == "gpu"
    gpu_num = int_field(data, "gpuNum", required=gpu, default=0)
    if gpu and not 1 <= gpu_num <= 8:
        raise invalid("gpuNum", "must be between 1 and 8")
    rootfs = int_field(data, "rootfsSize", required=gpu, default=MIN_ROOTFS_GB)
    if rootfs > MAX_ROOTFS_GB:
        raise invalid("rootfsSize", f"must be at most {MAX_ROOTFS_GB}")
    image_auth = string_field(data, "imageAuth", max_len=10239)
    if image_auth and ":" not in image_auth:
        raise invalid("imageAuth", "must be 'username:password'")
    ports_text = data.get("ports") or ""
    if not isinstance(ports_text, str):
        raise invalid("ports", "must be a string like '8080/http,22/tcp'")
    billing_mode = string_field(data, "billingMode", default="onDemand")
    if billing_mode not in BILLING_MODES:
        raise invalid("billingMode", f"must be one of {', '.join(BILLING_MODES)}")
    return CreateRequest(
        name=string_field(data, "name"),
        product_id=string_field(data, "productId", required=True),
        gpu_num=gpu_num,
        # Novita raises sizes below the minimum instead of rejecting them.
        rootfs_size=max(rootfs, MIN_ROOTFS_GB),
        image_url=string_field(data, "imageUrl", required=True, max_len=500),
        image_auth=image_auth,
        image_auth_id=string_field(data, "imageAuthId"),
        ports=parse_ports(ports_text),
        envs=envs_field(data),
        command=string_field(data, "command", max_len=2047),
        entrypoint=string_field(data, "entrypoint", max_len=2047),
        cluster_id=string_field(data, "clusterId"),
        kind=kind,
        billing_mode=billing_mode,
    )
