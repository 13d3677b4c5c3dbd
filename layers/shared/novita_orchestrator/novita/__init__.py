"""Everything about talking to Novita: the client, its models, its errors and the guard hook.

The names below are loaded on first access (PEP 562), so importing one submodule (``errors``, say)
does not load the client and its models at cold start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from novita_orchestrator.novita.client import NovitaClient
    from novita_orchestrator.novita.errors import NovitaError
    from novita_orchestrator.novita.guard import CallGuard, NoGuard
    from novita_orchestrator.novita.models import (
        CreateInstanceRequest,
        Instance,
        InstanceSummary,
        Product,
        RegistryAuth,
        Template,
    )

_MODULE_OF = {
    "NovitaClient": "client",
    "NovitaError": "errors",
    "CallGuard": "guard",
    "NoGuard": "guard",
    "CreateInstanceRequest": "models",
    "Instance": "models",
    "InstanceSummary": "models",
    "Product": "models",
    "RegistryAuth": "models",
    "Template": "models",
}

__all__ = [
    "CallGuard",
    "CreateInstanceRequest",
    "Instance",
    "InstanceSummary",
    "NoGuard",
    "NovitaClient",
    "NovitaError",
    "Product",
    "RegistryAuth",
    "Template",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
