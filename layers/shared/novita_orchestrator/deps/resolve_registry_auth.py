"""The collaborators of ResolveRegistryAuth: the Novita client alone."""

from __future__ import annotations

from novita_orchestrator.deps import Aws, clock_of
from novita_orchestrator.deps.novita import guarded_novita_client
from novita_orchestrator.settings import ResolveRegistryAuthSettings
from novita_orchestrator.steps.resolve_registry_auth import ResolveRegistryAuthDeps


def resolve_registry_auth_deps(settings: ResolveRegistryAuthSettings) -> ResolveRegistryAuthDeps:
    return ResolveRegistryAuthDeps(novita=guarded_novita_client(settings, Aws(), clock_of(settings)))
