"""A local Novita v1 GPU-instance API, faithful enough to develop and test the service offline.

Serves the real paths under ``/gpu-instance/openapi/v1`` (``Simulator.base_url``): instances
(list, get, start, stop, create, delete), templates, registry auths, products, clusters. Requests
need ``Authorization: Bearer <key>`` (the ``api_key`` given, or any non-empty key if none is given).
Errors use the envelope ``{"code", "reason", "message", "metadata"}``; most are HTTP 400 with a
Novita error name (``RESOURCE_NOT_FOUND``, ``TEMPLATE_NOT_FOUND``, ``VALIDATOR_PARAM``,
``CONFLICT``, ``INSUFFICIENT_RESOURCE``), plus 401 ``UNAUTHORIZED`` and 429 ``RATE_LIMIT_EXCEEDED``.

Simulator choices where Novita documents nothing (the default answers; each *dialect* switches one
to its other plausible answer, see ``dialects.py``: ``zero-pages``, ``capped-pages``, ``bare-errors``,
``keep-removed``, ``stale-status-error``, ``pending``, any combination, or ``all``):

* ``pageNum`` is 1-based (0 is read as 1); ``pageSize`` defaults to 10 and is capped at 50; lists
  carry ``total`` (template lists also echo ``pageSize`` and ``pageNum``). Lists keep insertion
  order (seed order, then creation order).
* Lifecycles on a simulated clock (real elapsed time x ``time_scale`` plus ``advance``):
  start ``exited -> toStart -> starting -> running``, create ``toCreate -> creating -> pulling ->
  running``, stop ``running -> toStop -> stopping -> exited``. Default simulated seconds per
  status: toStart 2, starting 20, toCreate 2, creating 10, pulling 30, toStop 2, stopping 10;
  apps answer 200 ``appWarmup`` = 10 s after the instance reached ``running``. Timings are
  taken when a transition begins (global config, or a seed instance's ``timings`` overrides).
  Only an ``exited`` instance can be started and only a ``running`` one stopped (else 400
  ``CONFLICT`` naming the current status). A delete goes ``toRemove -> removing -> removed``
  (2 s, 5 s) from any status; the row is listed while it goes and is gone once ``removed``.
* A failed start or create ends in ``exited`` with ``statusError = {"state": "failed", "message"}``;
  ``statusError`` is ``null`` otherwise and is cleared by the next start; only documented statuses
  appear. A create of an image on a private registry (``registry.example.com`` in the default
  seed) without a matching ``imageAuthId`` or inline ``imageAuth`` (``user:pass``) fails during
  ``pulling`` that way.
* ``portMappings[].endpoint`` (GET instance only) is ``http://127.0.0.1:<port>`` for ``http``
  ports (an app answering 503 until warmed up, then 200 ``{"status":"ok"}``) and
  ``127.0.0.1:<port>`` for ``tcp`` ports (accepts and closes); it is ``""`` unless ``running``.
* Seeded ``running`` instances count as already warmed up.
* The global rate limit is a token bucket in real seconds; ``Retry-After`` is in whole seconds.

Admin API under ``/__admin`` (no auth; see ``SimulatorAdmin``): ``POST reset`` (optional seed),
``GET state``, ``POST instances``, ``GET/POST/DELETE faults``, ``PUT rate-limit``,
``GET/PUT config``, ``GET/PUT dialects``, ``PUT stock`` (GPUs left per product and cluster),
``POST clock/advance``, ``GET/DELETE journal``. A reset
restores the seed, the starting time scale, dialects and default timings, and clears faults,
journal and rate limit.

Default seed IDs (``default_seed.json``):

* instances: ``inst-dev-box`` "dev-box" (exited, ``8888/http,22/tcp``), ``inst-trainer``
  "trainer" (exited, ``6006/http,22/tcp``), ``inst-inference`` "inference" (running,
  ``8000/http``), ``inst-twin-a`` and ``inst-twin-b`` both named "twin" (exited, ``80/http``);
  SSH / web-terminal passwords ``ssh-pass-<id>`` / ``term-pass-<id>``.
* templates: ``tpl-public-nginx`` (official, ``nginx:1.27``, no auth) and ``tpl-private-app``
  (private, ``registry.example.com/team/app:1.0``, ``imageAuth`` = ``auth-team-registry``,
  ports ``[{"type": "http", "ports": [8000]}]``).
* registry auth: ``auth-team-registry`` "team-registry", user ``deploy``, password
  ``fake-registry-pass-7Qx9``.
* products: ``prod-rtx4090-24g`` (all clusters), ``prod-a100-80g`` (``cl-us-ca-1``), and
  ``prod-h100-80g`` with ``availableDeploy: false``; clusters ``cl-us-ca-1``, ``cl-eu-de-1``.
"""

from __future__ import annotations

from novita_local.simulator.admin import SimulatorAdmin, SimulatorAdminError
from novita_local.simulator.server import Simulator
from novita_local.simulator.state import DEFAULT_TIMINGS, InstanceStatus

__all__ = ["DEFAULT_TIMINGS", "InstanceStatus", "Simulator", "SimulatorAdmin", "SimulatorAdminError"]
