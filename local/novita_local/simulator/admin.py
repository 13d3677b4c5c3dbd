"""A small client for the simulator's ``/__admin`` API, for tests and the demo (any process)."""

from __future__ import annotations

import re
from typing import Any

import requests

_API_PREFIX = "/gpu-instance/openapi/v1"


class SimulatorAdminError(RuntimeError):
    """The admin API refused a request (bad fault, bad seed, ...); the message carries its answer."""


def _camel(name: str) -> str:
    """``retry_after`` -> ``retryAfter``; camelCase names pass through unchanged."""
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), name)


class SimulatorAdmin:
    def __init__(self, url: str, timeout: float = 10.0) -> None:
        url = url.rstrip("/")
        if url.endswith(_API_PREFIX):
            url = url[: -len(_API_PREFIX)]
        self.url = url
        self.timeout = timeout
        self._session = requests.Session()
        self._session.trust_env = False  # loopback only: never through an HTTP proxy

    def _call(self, method: str, path: str, payload: Any = None, params: dict[str, str] | None = None) -> Any:
        response = self._session.request(
            method,
            f"{self.url}/__admin{path}",
            json=payload,
            params=params,
            timeout=self.timeout,
        )
        if not response.ok:
            raise SimulatorAdminError(f"{method} /__admin{path}: HTTP {response.status_code} {response.text}")
        return response.json()

    def reset(self, seed: dict[str, Any] | None = None) -> None:
        """Replace all state with ``seed`` (missing top-level keys: the default seed) or the default seed."""
        self._call("POST", "/reset", seed)

    def state(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/state")
        return result

    def add_instances(self, instances: list[dict[str, Any]]) -> list[str]:
        ids: list[str] = self._call("POST", "/instances", {"instances": instances})["ids"]
        return ids

    def set_stock(self, product_id: str, cluster_id: str, gpus: int | None) -> list[dict[str, Any]]:
        """GPUs of ``product_id`` left in ``cluster_id`` (None: unlimited); a create beyond it is sold out."""
        body = {"productId": product_id, "clusterId": cluster_id, "gpus": gpus}
        stock: list[dict[str, Any]] = self._call("PUT", "/stock", body)["stock"]
        return stock

    def add_fault(self, **fault: Any) -> str:
        """e.g. ``add_fault(kind="error", path="/gpu/instance/start", status=503, count=2)``."""
        fault_id: str = self._call("POST", "/faults", {_camel(k): v for k, v in fault.items()})["id"]
        return fault_id

    def faults(self) -> list[dict[str, Any]]:
        listed: list[dict[str, Any]] = self._call("GET", "/faults")["faults"]
        return listed

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def set_rate_limit(self, per_second: float | None, burst: float | None = None) -> None:
        self._call("PUT", "/rate-limit", {"perSecond": per_second, "burst": burst})

    def set_config(self, **config: float) -> dict[str, float]:
        """``set_config(time_scale=0, starting=5, app_warmup=1)``; keys may be camelCase too."""
        result: dict[str, float] = self._call("PUT", "/config", {_camel(k): v for k, v in config.items()})
        return result

    def config(self) -> dict[str, float]:
        result: dict[str, float] = self._call("GET", "/config")
        return result

    def set_dialects(self, *names: str) -> list[str]:
        """Switch to these dialects (none = the default answers); a reset restores the starting ones."""
        active: list[str] = self._call("PUT", "/dialects", {"dialects": list(names)})["dialects"]
        return active

    def dialects(self) -> list[str]:
        active: list[str] = self._call("GET", "/dialects")["dialects"]
        return active

    def advance(self, seconds: float) -> float:
        """Move simulated time forward; returns the new simulated time."""
        sim_time: float = self._call("POST", "/clock/advance", {"seconds": seconds})["simTime"]
        return sim_time

    def journal(self, path: str | None = None, method: str | None = None) -> list[dict[str, Any]]:
        params = {k: v for k, v in (("path", path), ("method", method)) if v is not None}
        requests_seen: list[dict[str, Any]] = self._call("GET", "/journal", params=params)["requests"]
        return requests_seen

    def clear_journal(self) -> None:
        self._call("DELETE", "/journal")

    def close(self) -> None:
        self._session.close()
