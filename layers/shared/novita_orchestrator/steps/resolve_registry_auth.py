"""ResolveRegistryAuth: the template's registry-auth ID must name a saved Novita credential.

Only the ID travels on (Novita pulls the private image with it); the client's model of a registry
auth has no password field, so no password can enter the state, its history, logs or events.
"""

from __future__ import annotations

from dataclasses import dataclass

from novita_orchestrator.novita.client import NovitaClient
from novita_orchestrator.novita.errors import NotFound
from novita_orchestrator.workflow.errors import RegistryAuthNotFound, novita_errors_translated
from novita_orchestrator.workflow.state import RegistryAuthResult, StepState


@dataclass(frozen=True)
class ResolveRegistryAuthDeps:
    novita: NovitaClient


def resolve_registry_auth(state: StepState, deps: ResolveRegistryAuthDeps) -> RegistryAuthResult:
    """The verified ID (``None`` when the template needs no registry auth)."""
    auth_id = state.target.template_image_auth_id
    if not auth_id:
        return RegistryAuthResult(image_auth_id=None)
    with novita_errors_translated():
        try:
            auth = deps.novita.get_registry_auth(auth_id)
        except NotFound:
            raise RegistryAuthNotFound(
                f"the template's registry auth {auth_id!r} is not among the account's saved credentials"
            ) from None
    return RegistryAuthResult(image_auth_id=auth.id)
