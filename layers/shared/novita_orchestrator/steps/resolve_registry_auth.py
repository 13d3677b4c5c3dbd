"""ResolveRegistryAuth: the template's registry-auth ID must name a saved Novita credential.

Only the ID travels on (Novita pulls the private image with it); the client's model of a registry
auth has no password field, so no password can enter the state, its history, logs or events.
"""

from __future__ import annotations

from novita_orchestrator.novita.client import NovitaClient
from novita_orchestrator.novita.errors import NotFound
from novita_orchestrator.workflow.errors import RegistryAuthNotFound, novita_errors_translated
from novita_orchestrator.workflow.state import Target


def resolve_registry_auth(*, target: Target, novita: NovitaClient) -> dict[str, str | None]:
    """``{"imageAuthId": <verified ID>}`` (``None`` when the template needs no registry auth)."""
    auth_id = target.template_image_auth_id
    if not auth_id:
        return {"imageAuthId": None}
    with novita_errors_translated():
        try:
            auth = novita.get_registry_auth(auth_id)
        except NotFound:
            raise RegistryAuthNotFound(
                f"the template's registry auth {auth_id!r} is not among the account's saved credentials"
            ) from None
    return {"imageAuthId": auth.id}
