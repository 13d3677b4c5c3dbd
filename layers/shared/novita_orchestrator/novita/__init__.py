"""Everything about talking to Novita: the client, its models, its errors and the guard hook."""

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
