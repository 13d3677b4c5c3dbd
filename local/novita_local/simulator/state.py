"""The simulated Novita account: instances on a simulated clock, templates, registry auths, products.

Statuses are derived lazily: an instance remembers when its current transition began and the
duration of each step, and its status is read off the simulated clock whenever someone looks.
"""

from __future__ import annotations

import copy
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

from novita_local.simulator.apps import AppListeners
from novita_local.simulator.dialects import CAPPED_PAGE_SIZE
from novita_local.simulator.errors import JSON, conflict, insufficient, invalid, not_found
from novita_local.simulator.faults import FaultBook
from novita_local.simulator.validation import (
    CreateRequest,
    Ports,
    envs_field,
    int_field,
    parse_create,
    parse_ports,
    query_int,
    require_object,
    string_field,
)


class InstanceStatus(StrEnum):
    """The 18 instance statuses Novita documents (identical on the get and list pages)."""

    TO_CREATE = "toCreate"
    CREATING = "creating"
    PULLING = "pulling"
    RUNNING = "running"
    TO_START = "toStart"
    STARTING = "starting"
    TO_STOP = "toStop"
    STOPPING = "stopping"
    EXITED = "exited"
    TO_RESTART = "toRestart"
    RESTARTING = "restarting"
    TO_REMOVE = "toRemove"
    REMOVING = "removing"
    REMOVED = "removed"
    TO_RESET = "toReset"
    RESETTING = "resetting"
    MIGRATING = "migrating"
    FREEZING = "freezing"


S = InstanceStatus
#: Not one of the 18: the status some clients see right after a create (the ``pending`` dialect).
PENDING = "pending"
REMOVAL_STATUSES = frozenset({S.TO_REMOVE, S.REMOVING, S.REMOVED})

# Simulated seconds spent in each transitional status, and before a running instance's apps answer.
DEFAULT_TIMINGS: dict[str, float] = {
    "toCreate": 2.0,
    "creating": 10.0,
    "pulling": 30.0,
    "toStart": 2.0,
    "starting": 20.0,
    "toStop": 2.0,
    "stopping": 10.0,
    "toRemove": 2.0,
    "removing": 5.0,
    "pending": 2.0,
    "appWarmup": 10.0,
}
TIMING_KEYS = tuple(DEFAULT_TIMINGS)
DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 50  # a simulator choice: Novita documents no maximum
SEED_KEYS = ("clusters", "products", "registryAuths", "privateRegistries", "templates", "instances")


class SimClock:
    """Simulated seconds: real elapsed time times ``time_scale``, plus manual advances."""

    def __init__(self, time_scale: float) -> None:
        self._lock = threading.Lock()
        self._scale = time_scale
        self._base_real = time.monotonic()
        self._base_sim = 0.0

    def now(self) -> float:
        with self._lock:
            return self._base_sim + (time.monotonic() - self._base_real) * self._scale

    @property
    def time_scale(self) -> float:
        return self._scale

    def set_time_scale(self, time_scale: float) -> None:
        with self._lock:
            real = time.monotonic()
            self._base_sim += (real - self._base_real) * self._scale
            self._base_real = real
            self._scale = time_scale

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._base_sim += seconds
        return self.now()


@dataclass
class Transition:
    """A start, create or stop in progress: consecutive steps, then an outcome status."""

    began: float
    steps: list[tuple[str, float]]
    outcome: str
    failure: str | None = None

    @property
    def ends(self) -> float:
        return self.began + sum(duration for _, duration in self.steps)

    def status_at(self, now: float) -> str | None:
        edge = self.began
        for status, duration in self.steps:
            edge += duration
            if now < edge:
                return status
        return None


@dataclass
class Instance:
    id: str
    name: str
    product_id: str
    cluster_id: str
    image_url: str
    image_auth_id: str
    command: str
    entrypoint: str
    gpu_num: int
    rootfs_size: int
    ports: Ports
    envs: list[dict[str, str]]
    kind: str
    billing_mode: str
    ssh_password: str
    web_terminal_password: str
    timings: dict[str, float]
    status: str
    created_at: int = field(default_factory=lambda: int(time.time()))
    transition: Transition | None = None
    status_error: dict[str, str] | None = None
    running_since: float | None = None
    warmup: float = 0.0
    last_started_at: int = 0
    last_stopped_at: int = 0

    def settle(self, now: float) -> str:
        """The status at ``now``, completing the transition in progress if it is over."""
        tr = self.transition
        if tr is None:
            return self.status
        current = tr.status_at(now)
        if current is not None:
            return current
        self.transition = None
        self.status = tr.outcome
        if tr.failure is not None:
            self.status_error = {"state": "failed", "message": tr.failure}
        if tr.outcome == S.RUNNING:
            self.running_since = tr.ends
        return self.status


def default_seed() -> JSON:
    text = resources.files("novita_local.simulator").joinpath("default_seed.json").read_text("utf-8")
    seed: JSON = json.loads(text)
    return seed


def load_seed(seed: JSON | str | Path | None) -> JSON:
    """A complete seed: top-level keys the given seed lacks come from the default seed."""
    base = default_seed()
    if seed is None:
        return base
    given: Any = seed
    if isinstance(seed, str | Path):
        given = json.loads(Path(seed).read_text("utf-8"))
    if not isinstance(given, dict):
        raise invalid("seed", "must be a JSON object")
    unknown = set(given) - set(SEED_KEYS)
    if unknown:
        raise invalid("seed", f"unknown keys {sorted(unknown)}; expected {', '.join(SEED_KEYS)}")
    for key in SEED_KEYS:
        if key in given and not isinstance(given[key], list):
            raise invalid(key, "must be a list")
    return {**base, **copy.deepcopy(given)}


def registry_host(image: str) -> str:
    first, sep, _ = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def _fuzzy(needle: str, haystack: str) -> bool:
    return needle.lower() in haystack.lower()


class World:
    """All simulated resources of one account, guarded by one lock."""

    def __init__(
        self,
        seed: JSON,
        time_scale: float,
        faults: FaultBook,
        apps: AppListeners,
        dialects: frozenset[str] = frozenset(),
    ) -> None:
        self.lock = threading.RLock()
        #: The active dialects (see ``dialects.py``); the server reads ``bare-errors`` from here too.
        self.dialects = dialects
        self.clock = SimClock(time_scale)
        self.timings = dict(DEFAULT_TIMINGS)
        self.faults = faults
        self.apps = apps
        self.clusters: list[JSON] = list(seed["clusters"])
        self.products: dict[str, JSON] = {p["id"]: p for p in seed["products"]}
        self.auths: list[JSON] = list(seed["registryAuths"])
        self.private_registries: list[str] = list(seed["privateRegistries"])
        self.templates: list[JSON] = list(seed["templates"])
        self.instances: dict[str, Instance] = {}
        #: GPUs left per (product, cluster), set by the admin API; a pair not listed is unlimited.
        self.stock: dict[tuple[str, str], int] = {}
        self.add_seed_instances(seed["instances"])

    # ----------------------------------------------------------------- config and seeding

    def set_stock(self, body: Any) -> JSON:
        """``{"productId", "clusterId", "gpus"}``: GPUs of that product left in that cluster (``null``:
        unlimited again). A create that needs more fails ``INSUFFICIENT_RESOURCE``, whatever the
        listing's ``availableDeploy`` says (as a real listing can be stale)."""
        data = require_object(body)
        product_id, cluster_id = str(data.get("productId")), str(data.get("clusterId"))
        gpus = data.get("gpus")
        with self.lock:
            if product_id not in self.products:
                raise invalid("productId", f"no product {product_id!r}")
            if all(c.get("id") != cluster_id for c in self.clusters):
                raise invalid("clusterId", f"no cluster {cluster_id!r}")
            if gpus is None:
                self.stock.pop((product_id, cluster_id), None)
            elif isinstance(gpus, bool) or not isinstance(gpus, int) or gpus < 0:
                raise invalid("gpus", "must be an integer >= 0, or null for unlimited")
            else:
                self.stock[(product_id, cluster_id)] = gpus
            return {"stock": self._stock_view()}

    def _stock_view(self) -> list[JSON]:
        return [{"productId": p, "clusterId": c, "gpus": n} for (p, c), n in sorted(self.stock.items())]

    def set_config(self, body: Any) -> JSON:
        data = require_object(body)
        unknown = set(data) - {"timeScale", *TIMING_KEYS}
        if unknown:
            raise invalid("config", f"unknown keys {sorted(unknown)}")
        checked: dict[str, float] = {}
        for key, value in data.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise invalid(key, "must be a number >= 0")
            checked[key] = float(value)
        with self.lock:
            if "timeScale" in checked:
                self.clock.set_time_scale(checked.pop("timeScale"))
            self.timings.update(checked)
        return self.config()

    def config(self) -> JSON:
        with self.lock:
            return {"timeScale": self.clock.time_scale, **self.timings}

    def _timing(self, inst: Instance, key: str) -> float:
        return inst.timings.get(key, self.timings[key])

    def add_seed_instances(self, entries: Any) -> list[str]:
        if not isinstance(entries, list):
            raise invalid("instances", "must be a list")
        with self.lock:
            now = self.clock.now()
            built = [self._seed_instance(entry, now) for entry in entries]
            for inst in built:
                if inst.id in self.instances:
                    raise invalid("id", f"instance {inst.id!r} already exists")
            for inst in built:
                self.instances[inst.id] = inst
        return [inst.id for inst in built]

    def _seed_instance(self, entry: Any, now: float) -> Instance:
        data = require_object(entry, "instances[]")
        iid = string_field(data, "id") or _new_id()
        status = string_field(data, "status", default=S.EXITED)
        if status not in S.__members__.values():
            raise invalid("status", f"{status!r} is not a Novita instance status")
        product_id = string_field(data, "productId") or next(iter(self.products), "")
        if product_id not in self.products:
            raise invalid("productId", f"no product {product_id!r}")
        cluster_id = string_field(data, "clusterId") or self._default_cluster(self.products[product_id])
        timings = data.get("timings") or {}
        if not isinstance(timings, dict) or any(
            k not in TIMING_KEYS or isinstance(v, bool) or not isinstance(v, int | float) or v < 0
            for k, v in timings.items()
        ):
            raise invalid("timings", f"keys must be among {', '.join(TIMING_KEYS)}, values numbers >= 0")
        status_error = data.get("statusError")
        inst = Instance(
            id=iid,
            name=string_field(data, "name", default=iid),
            product_id=product_id,
            cluster_id=cluster_id,
            image_url=string_field(data, "imageUrl", default="nginx:1.27", max_len=500),
            image_auth_id=string_field(data, "imageAuthId"),
            command=string_field(data, "command", max_len=2047),
            entrypoint=string_field(data, "entrypoint", max_len=2047),
            gpu_num=int_field(data, "gpuNum", default=1),
            rootfs_size=int_field(data, "rootfsSize", default=50),
            ports=parse_ports(string_field(data, "ports", max_len=2000)),
            envs=envs_field(data),
            kind=string_field(data, "kind", default="gpu"),
            billing_mode=string_field(data, "billingMode", default="onDemand"),
            ssh_password=string_field(data, "sshPassword", default=f"ssh-pass-{iid}"),
            web_terminal_password=string_field(data, "webTerminalPassword", default=f"term-pass-{iid}"),
            timings={k: float(v) for k, v in timings.items()},
            status=status,
            status_error=dict(status_error) if isinstance(status_error, dict) else None,
        )
        if status == S.RUNNING:
            # Seeded running instances have been up long enough for their apps to answer.
            inst.warmup = self._timing(inst, "appWarmup")
            inst.running_since = now - inst.warmup
        return inst

    def _default_cluster(self, product: JSON) -> str:
        regions: list[str] = product.get("regions") or []
        if regions:
            return regions[0]
        return str(self.clusters[0]["id"]) if self.clusters else ""

    # ----------------------------------------------------------------- rendering

    def _cluster_name(self, cluster_id: str) -> str:
        return next((str(c.get("name", "")) for c in self.clusters if c.get("id") == cluster_id), "")

    def _common_view(self, inst: Instance, status: str) -> JSON:
        product = self.products.get(inst.product_id, {})
        gpus = max(inst.gpu_num, 1)
        return {
            "id": inst.id,
            "name": inst.name,
            "clusterId": inst.cluster_id,
            "clusterName": self._cluster_name(inst.cluster_id),
            "status": status,
            "imageUrl": inst.image_url,
            "imageAuthId": inst.image_auth_id,
            "command": inst.command,
            "entrypoint": inst.entrypoint,
            "cpuNum": str(int(product.get("cpuPerGpu", 0)) * gpus),
            "memory": str(int(product.get("memoryPerGpu", 0)) * gpus),
            "gpuNum": str(inst.gpu_num),
            "productId": inst.product_id,
            "productName": str(product.get("name", "")),
            "rootfsSize": inst.rootfs_size,
            "statusError": dict(inst.status_error) if inst.status_error else None,
            "envs": [dict(env) for env in inst.envs],
            "kind": inst.kind,
            "billingMode": inst.billing_mode,
            "endTime": "-1",
        }

    def _list_view(self, inst: Instance, now: float) -> JSON:
        view = self._common_view(inst, inst.settle(now))
        view["portMappings"] = [{"port": port, "type": kind} for port, kind in inst.ports]
        view["volumeMounts"] = [{"type": "local", "size": str(inst.rootfs_size), "id": "", "mountPath": "/"}]
        view["spotStatus"] = ""
        view["spotReclaimTime"] = "0"
        return view

    def _detail_view(self, inst: Instance, now: float, open_listeners: bool) -> JSON:
        status = inst.settle(now)
        running = status == S.RUNNING
        if running and open_listeners:
            app_ports = {
                port: self.apps.ensure(inst.id, port, kind, self._health_check(inst.id))
                for port, kind in inst.ports
            }
        else:
            app_ports = self.apps.open_ports(inst.id) if running else {}
        mappings = []
        for port, kind in inst.ports:
            app_port = app_ports.get(port)
            endpoint = ""
            if app_port is not None:
                endpoint = f"http://127.0.0.1:{app_port}" if kind == "http" else f"127.0.0.1:{app_port}"
            mappings.append({"port": port, "endpoint": endpoint, "type": kind})
        ssh_port = app_ports.get(22)
        view = self._common_view(inst, status)
        view.update(
            {
                "portMappings": mappings,
                "network": {"id": "", "ip": ""},
                "volumeMounts": [{"type": "local", "size": inst.rootfs_size, "id": "", "mountPath": "/"}],
                "node": [{"maxRootfsSize": int(self.products.get(inst.product_id, {}).get("maxRootFS", 0))}],
                "jobs": [],
                "connectComponentSSH": {
                    "sshCommand": f"ssh -p {ssh_port} root@127.0.0.1" if ssh_port else "",
                    "password": inst.ssh_password,
                    "isRunning": running,
                },
                "connectComponentWebTerminal": {
                    "address": f"https://web-terminal.sim.invalid/{inst.id}" if running else "",
                    "username": "root",
                    "password": inst.web_terminal_password,
                    "isRunning": running,
                },
                "connectComponentJupyter": {"port": 0, "address": "", "isRunning": False},
                "connectComponentLog": {
                    "systemLogAddress": f"https://logs.sim.invalid/{inst.id}/system",
                    "instanceLogAddress": f"https://logs.sim.invalid/{inst.id}/instance",
                    "isRunning": running,
                },
                "freeStorageSize": 60,
                "keepDataDay": 30,
                "createdAt": str(inst.created_at),
                "lastStartedAt": str(inst.last_started_at),
                "lastStoppedAt": str(inst.last_stopped_at),
            }
        )
        return view

    # ----------------------------------------------------------------- health of the apps

    def _health_check(self, instance_id: str) -> Any:
        return lambda: self.app_healthy(instance_id)

    def app_healthy(self, instance_id: str) -> bool:
        with self.lock:
            inst = self.instances.get(instance_id)
            if inst is None:
                return False
            now = self.clock.now()
            if inst.settle(now) != S.RUNNING or inst.running_since is None:
                return False
            warmed_up = now >= inst.running_since + inst.warmup
        return warmed_up and not self.faults.never_healthy(instance_id)

    # ----------------------------------------------------------------- API operations

    def _instance(self, instance_id: str) -> Instance:
        inst = self.instances.get(instance_id)
        if inst is None or not self._visible(inst, self.clock.now()):
            raise not_found("instance", instance_id)
        return inst

    def _visible(self, inst: Instance, now: float) -> bool:
        """A deleted instance is gone once ``removed``, unless the ``keep-removed`` dialect keeps it."""
        return inst.settle(now) != S.REMOVED or "keep-removed" in self.dialects

    def _page(self, query: dict[str, str]) -> tuple[int, int, int]:
        """``(start, page size, page number)``: 1-based (0 read as 1) or, ``zero-pages``, 0-based."""
        cap = CAPPED_PAGE_SIZE if "capped-pages" in self.dialects else MAX_PAGE_SIZE
        page_size = min(query_int(query, "pageSize", DEFAULT_PAGE_SIZE) or DEFAULT_PAGE_SIZE, cap)
        if "zero-pages" in self.dialects:
            page_num = max(query_int(query, "pageNum", 0), 0)
            return page_num * page_size, page_size, page_num
        page_num = max(query_int(query, "pageNum", 1), 1)
        return (page_num - 1) * page_size, page_size, page_num

    def _with_total(self, answer: JSON, total: int) -> JSON:
        if "capped-pages" not in self.dialects:
            answer["total"] = total
        return answer

    def _first_steps(self, inst: Instance) -> list[tuple[str, float]]:
        """The undocumented ``pending`` a start or create shows first in the ``pending`` dialect."""
        return [(PENDING, self._timing(inst, "pending"))] if "pending" in self.dialects else []

    def list_instances(self, query: dict[str, str]) -> JSON:
        start, page_size, _ = self._page(query)
        status_filter = query.get("status", "")
        if status_filter and status_filter not in S.__members__.values():
            raise invalid("status", f"{status_filter!r} is not a Novita instance status")
        with self.lock:
            now = self.clock.now()
            views = [
                self._list_view(inst, now) for inst in self.instances.values() if self._visible(inst, now)
            ]
        name, product_name = query.get("name", ""), query.get("productName", "")
        matching = [
            v
            for v in views
            if (not name or _fuzzy(name, v["name"]))
            and (not product_name or _fuzzy(product_name, v["productName"]))
            and (not status_filter or v["status"] == status_filter)
        ]
        return self._with_total({"instances": matching[start : start + page_size]}, len(matching))

    def get_instance(self, query: dict[str, str]) -> JSON:
        instance_id = query.get("instanceId", "")
        if not instance_id:
            raise invalid("instanceId", "is required")
        with self.lock:
            return self._detail_view(self._instance(instance_id), self.clock.now(), open_listeners=True)

    def start_instance(self, body: Any) -> JSON:
        instance_id = string_field(require_object(body), "instanceId", required=True)
        with self.lock:
            inst = self._instance(instance_id)
            now = self.clock.now()
            status = inst.settle(now)
            if status != S.EXITED:
                raise conflict(f"instance {instance_id} is {status}; only an exited instance can be started")
            if not self.products.get(inst.product_id, {}).get("availableDeploy", True):
                raise insufficient("not enough capacity to start this instance")
            failure = self.faults.take_status_error(inst.id, inst.name)
            if "stale-status-error" not in self.dialects:
                inst.status_error = None
            inst.warmup = self._timing(inst, "appWarmup")
            inst.last_started_at = int(time.time())
            inst.transition = Transition(
                began=now,
                steps=[
                    *self._first_steps(inst),
                    (S.TO_START, self._timing(inst, "toStart")),
                    (S.STARTING, self._timing(inst, "starting")),
                ],
                outcome=S.EXITED if failure else S.RUNNING,
                failure=failure,
            )
        return {}

    def stop_instance(self, body: Any) -> JSON:
        instance_id = string_field(require_object(body), "instanceId", required=True)
        inst = self._wind_down(
            instance_id,
            lambda status: None if status == S.RUNNING else "only a running instance can be stopped",
            (S.TO_STOP, S.STOPPING),
            S.EXITED,
        )
        inst.last_stopped_at = int(time.time())
        return {}

    def delete_instance(self, body: Any) -> JSON:
        """``toRemove -> removing -> removed`` from any status; the row stays listed while it goes."""
        instance_id = string_field(require_object(body), "instanceId", required=True)
        self._wind_down(
            instance_id,
            lambda status: "it is already deleted" if status in REMOVAL_STATUSES else None,
            (S.TO_REMOVE, S.REMOVING),
            S.REMOVED,
        )
        return {}

    def _wind_down(
        self, instance_id: str, refusal: Callable[[str], str | None], steps: tuple[str, str], outcome: str
    ) -> Instance:
        """Begin a stop or a delete (its apps stop answering at once); ``refusal`` names a bad status."""
        with self.lock:
            inst = self._instance(instance_id)
            now = self.clock.now()
            status = inst.settle(now)
            problem = refusal(status)
            if problem is not None:
                raise conflict(f"instance {instance_id} is {status}; {problem}")
            inst.running_since = None
            inst.transition = Transition(
                began=now, steps=[(step, self._timing(inst, step)) for step in steps], outcome=outcome
            )
        self.apps.close_instance(instance_id)
        return inst

    def create_instance(self, body: Any) -> JSON:
        req = parse_create(body)
        with self.lock:
            product = self.products.get(req.product_id)
            if product is None:
                raise invalid("productId", f"no product {req.product_id!r}")
            if not product.get("availableDeploy", True):
                raise insufficient(f"product {req.product_id} has no capacity now")
            max_rootfs = int(product.get("maxRootFS", 0))
            if max_rootfs and req.rootfs_size > max_rootfs:
                raise invalid("rootfsSize", f"product {req.product_id} allows at most {max_rootfs} GB")
            cluster_id = req.cluster_id or self._default_cluster(product)
            regions = product.get("regions") or []
            if req.cluster_id and (
                all(c.get("id") != req.cluster_id for c in self.clusters)
                or (regions and req.cluster_id not in regions)
            ):
                raise invalid("clusterId", f"product {req.product_id} is not offered in {req.cluster_id!r}")
            auth = next((a for a in self.auths if a.get("id") == req.image_auth_id), None)
            if req.image_auth_id and auth is None:
                raise invalid("imageAuthId", f"no registry auth {req.image_auth_id!r}")
            left = self.stock.get((req.product_id, cluster_id))
            if left is not None:
                if left < req.gpu_num:
                    raise insufficient(f"product {req.product_id} has no capacity in {cluster_id} now")
                self.stock[(req.product_id, cluster_id)] = left - req.gpu_num
            inst = Instance(
                id=_new_id(),
                name=req.name,
                product_id=req.product_id,
                cluster_id=cluster_id,
                image_url=req.image_url,
                image_auth_id=req.image_auth_id,
                command=req.command,
                entrypoint=req.entrypoint,
                gpu_num=req.gpu_num,
                rootfs_size=req.rootfs_size,
                ports=req.ports,
                envs=req.envs,
                kind=req.kind,
                billing_mode=req.billing_mode,
                ssh_password=f"ssh-pass-{uuid.uuid4().hex[:8]}",
                web_terminal_password=f"term-pass-{uuid.uuid4().hex[:8]}",
                timings={},
                status=S.TO_CREATE,
            )
            failure = self.faults.take_status_error(inst.id, inst.name) or self._pull_failure(req, auth)
            now = self.clock.now()
            inst.warmup = self._timing(inst, "appWarmup")
            inst.last_started_at = int(time.time())
            inst.transition = Transition(
                began=now,
                steps=[
                    *self._first_steps(inst),
                    (S.TO_CREATE, self._timing(inst, "toCreate")),
                    (S.CREATING, self._timing(inst, "creating")),
                    (S.PULLING, self._timing(inst, "pulling")),
                ],
                outcome=S.EXITED if failure else S.RUNNING,
                failure=failure,
            )
            self.instances[inst.id] = inst
        return {"id": inst.id}

    def _pull_failure(self, req: CreateRequest, auth: JSON | None) -> str | None:
        """Images on a private registry pull only with matching credentials (ID or inline)."""
        if registry_host(req.image_url) not in self.private_registries:
            return None
        if auth is not None:
            return None
        inline = {f"{a.get('username')}:{a.get('password')}" for a in self.auths}
        if req.image_auth and req.image_auth in inline:
            return None
        return f"failed to pull image {req.image_url}: unauthorized: authentication required"

    def list_templates(self, query: dict[str, str]) -> JSON:
        start, page_size, page_num = self._page(query)
        channels = {c.strip() for c in query.get("channel", "").split(",") if c.strip()}
        name, kind = query.get("name", ""), query.get("type", "")
        with self.lock:
            matching = [
                copy.deepcopy(t)
                for t in self.templates
                if (not channels or t.get("channel") in channels)
                and (not name or _fuzzy(name, str(t.get("name", ""))))
                and (not kind or t.get("type") == kind)
            ]
        # The page size and number are echoed, as the documented answer (and live clients) show.
        answer = {"template": matching[start : start + page_size], "pageSize": page_size, "pageNum": page_num}
        return self._with_total(answer, len(matching))

    def get_template(self, query: dict[str, str]) -> JSON:
        template_id = query.get("templateId", "")
        if not template_id:
            raise invalid("templateId", "is required")
        with self.lock:
            template = next((t for t in self.templates if t.get("Id") == template_id), None)
            if template is None:
                raise not_found("template", template_id, reason="TEMPLATE_NOT_FOUND")
            return {"template": copy.deepcopy(template)}

    def list_registry_auths(self, query: dict[str, str]) -> JSON:
        with self.lock:
            return {"data": copy.deepcopy(self.auths)}

    def list_products(self, query: dict[str, str]) -> JSON:
        cluster_id, name = query.get("clusterId", ""), query.get("productName", "")
        billing = query.get("billingMethod", "")
        minimums = {
            "cpuPerGpu": query_int(query, "minCpuPerGpu", 0),
            "memoryPerGpu": query_int(query, "minMemoryPerGpu", 0),
            "maxRootFS": query_int(query, "minRootFSSize", 0),
        }
        if query_int(query, "gpuNum", 0) > 8:
            raise invalid("gpuNum", "must be between 0 and 8")
        with self.lock:
            matching = [
                copy.deepcopy(p)
                for p in self.products.values()
                if (not cluster_id or not p.get("regions") or cluster_id in p["regions"])
                and (not name or _fuzzy(name, str(p.get("name", ""))))
                and (not billing or billing in p.get("billingMethods", []))
                and all(int(p.get(key, 0)) >= low for key, low in minimums.items())
            ]
        return {"data": matching}

    def list_clusters(self, query: dict[str, str]) -> JSON:
        with self.lock:
            return {"data": copy.deepcopy(self.clusters)}

    # ----------------------------------------------------------------- admin view

    def dump(self) -> JSON:
        with self.lock:
            now = self.clock.now()
            return {
                "simTime": now,
                "config": self.config(),
                "dialects": sorted(self.dialects),
                "instances": [
                    self._detail_view(inst, now, open_listeners=False) for inst in self.instances.values()
                ],
                "templates": copy.deepcopy(self.templates),
                "registryAuths": copy.deepcopy(self.auths),
                "products": copy.deepcopy(list(self.products.values())),
                "clusters": copy.deepcopy(self.clusters),
                "stock": self._stock_view(),
                "privateRegistries": list(self.private_registries),
            }


def _new_id() -> str:
    return uuid.uuid4().hex[:16]
