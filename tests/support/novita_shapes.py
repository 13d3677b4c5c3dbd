"""Novita's documented answers, field by field, and a check of an answer against them.

Each documented field and its type, from the project's Novita API reference (shared with the client)
reconciled with the examples on Novita's docs pages (gpu-instance-list-instances, -get-instance,
-list-products, -list-templates, -get-template, -list-clusters, -list-container-registry-auth):
numbers that Novita sends as strings are ``str`` here, as on those pages; ``list_of(x)`` is a list
whose every item matches ``x``; ``maybe(x)`` also allows null. Extra fields are allowed (Novita adds
fields without notice); a missing or mistyped documented field is a drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ListOf:
    item: Any


@dataclass(frozen=True)
class Maybe:
    spec: Any


def list_of(item: Any) -> ListOf:
    return ListOf(item)


def maybe(spec: Any) -> Maybe:
    return Maybe(spec)


ENV = {"key": str, "value": str}
STATUS_ERROR = maybe({"state": str, "message": str})
#: Fields the list and the get answers share, with the same types.
INSTANCE_COMMON: dict[str, Any] = {
    "id": str,
    "name": str,
    "clusterId": str,
    "clusterName": str,
    "status": str,
    "imageUrl": str,
    "imageAuthId": str,
    "command": str,
    "entrypoint": str,
    "cpuNum": str,
    "memory": str,
    "gpuNum": str,
    "statusError": STATUS_ERROR,
    "envs": list_of(ENV),
    "kind": str,
    "billingMode": str,
    "endTime": str,
}
LIST_ITEM: dict[str, Any] = {
    **INSTANCE_COMMON,
    "portMappings": list_of({"port": int, "type": str}),  # no endpoint in the list view
    "productId": str,
    "productName": str,
    "rootfsSize": int,
    "volumeMounts": list_of({"type": str, "size": str, "id": str, "mountPath": str}),  # size a string here
    "spotStatus": str,
    "spotReclaimTime": str,
}
GET_ANSWER: dict[str, Any] = {
    **INSTANCE_COMMON,
    "network": {"id": str, "ip": str},
    "portMappings": list_of({"port": int, "endpoint": str, "type": str}),
    "volumeMounts": list_of({"type": str, "size": int, "id": str, "mountPath": str}),
    "node": list_of({"maxRootfsSize": int}),
    "jobs": list_of({"id": str, "type": str}),
    "connectComponentSSH": {"sshCommand": str, "password": str, "isRunning": bool},
    "connectComponentWebTerminal": {"address": str, "username": str, "password": str, "isRunning": bool},
    "connectComponentJupyter": {"port": int, "address": str, "isRunning": bool},
    "connectComponentLog": {"systemLogAddress": str, "instanceLogAddress": str, "isRunning": bool},
    "freeStorageSize": int,
    "keepDataDay": int,
}
PRODUCT: dict[str, Any] = {
    "id": str,
    "name": str,
    "cpuPerGpu": int,
    "memoryPerGpu": int,
    "diskPerGpu": int,
    "availableDeploy": bool,
    "minRootFS": int,
    "maxRootFS": int,
    "minLocalStorage": int,
    "maxLocalStorage": int,
    "regions": list_of(str),
    "price": int,
    "monthlyPrice": list_of({"price": int, "month": int}),
    "billingMethods": list_of(str),
    "spotPrice": str,
    "inventoryState": str,
}
TEMPLATE: dict[str, Any] = {
    "Id": str,
    "name": str,
    "readme": str,
    "type": str,
    "channel": str,
    "image": str,
    "imageAuth": str,
    "startCommand": str,
    "entrypoint": str,
    "rootfsSize": int,
    "ports": list_of({"type": str, "ports": list_of(int)}),
    "envs": list_of(ENV),
    "tools": list_of({"name": str, "describe": str, "port": int, "type": str}),
    "createdAt": str,
    "recommendCards": list_of({"gpuSpecId": str, "cardNum": str}),
    "minCudaVersion": str,
}
CLUSTER: dict[str, Any] = {
    "id": str,
    "name": str,
    "availableGpuType": list_of(str),
    "supportNetworkStorage": bool,
    "supportInstanceNetwork": bool,
}
REGISTRY_AUTH: dict[str, Any] = {"id": str, "name": str, "username": str, "password": str}
ANSWERS: dict[str, dict[str, Any]] = {
    "list instances": {"instances": list_of(LIST_ITEM), "total": int},
    "get instance": GET_ANSWER,
    "create instance": {"id": str},
    "list templates": {"template": list_of(TEMPLATE), "pageSize": int, "pageNum": int, "total": int},
    "get template": {"template": TEMPLATE},
    "list registry auths": {"data": list_of(REGISTRY_AUTH)},
    "list products": {"data": list_of(PRODUCT)},
    "list clusters": {"data": list_of(CLUSTER)},
    "error": {"code": int, "reason": str, "message": str, "metadata": dict},
}
ENVELOPE_KEYS = set(ANSWERS["error"])


def mismatches(value: Any, spec: Any, where: str = "") -> list[str]:
    """Every documented field of ``spec`` that ``value`` lacks or carries with another type."""
    if isinstance(spec, Maybe):
        return [] if value is None else mismatches(value, spec.spec, where)
    if isinstance(spec, ListOf):
        if not isinstance(value, list):
            return [f"{where}: {type(value).__name__}, not a list"]
        return [m for n, item in enumerate(value) for m in mismatches(item, spec.item, f"{where}[{n}]")]
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            return [f"{where}: {type(value).__name__}, not an object"]
        found: list[str] = []
        for key, field_spec in spec.items():
            if key not in value:
                found.append(f"{where}.{key}: missing")
            else:
                found.extend(mismatches(value[key], field_spec, f"{where}.{key}"))
        return found
    # bool is an int in Python, but not in JSON
    if (spec is int and isinstance(value, bool)) or not isinstance(value, spec):
        return [f"{where}: {type(value).__name__}, documented {spec.__name__}"]
    return []


def leaves(value: Any, spec: Any) -> int:
    """How many typed fields of ``spec`` a value filled (so a check over empty lists cannot pass)."""
    if isinstance(spec, Maybe):
        return 0 if value is None else leaves(value, spec.spec)
    if isinstance(spec, ListOf):
        return sum(leaves(item, spec.item) for item in value)
    if isinstance(spec, dict):
        return sum(leaves(value[key], field_spec) for key, field_spec in spec.items())
    return 1
