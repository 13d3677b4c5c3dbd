"""Typed views of the Novita v1 resources the service uses.

Novita sends numbers as strings (``"gpuNum": "1"``), adds fields without notice and returns secrets in
clear text. These models therefore ignore unknown fields, coerce numeric strings (a blank or unreadable
optional number becomes ``None``), and have **no field for any secret**: SSH and web-terminal passwords,
registry passwords and inline ``user:pass`` image credentials are dropped while parsing, so a model
handed to a caller, logged or put into workflow state cannot leak them.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)
from pydantic.alias_generators import to_camel

from novita_orchestrator.novita.redaction import REDACTED, is_secret_key

#: The 18 instance statuses Novita documents (identical on the get and list pages). Others are seen in
#: practice (``pending`` right after a create): callers treat those as "in progress".
DOCUMENTED_STATUSES = frozenset(
    {
        "toCreate",
        "creating",
        "pulling",
        "running",
        "toStart",
        "starting",
        "toStop",
        "stopping",
        "exited",
        "toRestart",
        "restarting",
        "toRemove",
        "removing",
        "removed",
        "toReset",
        "resetting",
        "migrating",
        "freezing",
    }
)
#: Statuses an instance goes through on its way to ``running`` after a start (start has taken effect).
STARTING_STATUSES = frozenset({"toStart", "starting", "pulling", "running", "toRestart", "restarting"})
#: Statuses that show a stop has taken effect.
STOPPING_STATUSES = frozenset({"toStop", "stopping", "exited"})
#: A deleted instance, or one being deleted: Novita keeps listing them for a while after a delete.
REMOVED_STATUSES = frozenset({"toRemove", "removing", "removed"})


def is_documented_status(status: str) -> bool:
    return status in DOCUMENTED_STATUSES


def _number_or_none(value: Any) -> Any:
    """Blank or unreadable optional numbers become None instead of failing the whole response."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _int_or_none(value: Any) -> Any:
    number = _number_or_none(value)
    if isinstance(number, float):
        return int(number) if number.is_integer() else None
    return number


def _list_or_empty(value: Any) -> Any:
    return [] if value is None else value


def _str_or_none(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value if value else None
    if isinstance(value, int | float | bool):
        return str(value)
    return None


OptInt = Annotated[int | None, BeforeValidator(_int_or_none)]
OptFloat = Annotated[float | None, BeforeValidator(_number_or_none)]
OptStr = Annotated[str | None, BeforeValidator(_str_or_none)]


class NovitaModel(BaseModel):
    """Base: camelCase on the wire, snake_case in Python, unknown fields ignored."""

    # defer_build: each model's validator is built when first used, not when a handler is imported.
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        coerce_numbers_to_str=True,
        defer_build=True,
    )


class EnvVar(NovitaModel):
    """An environment variable as Novita reports it; values of secret-looking keys are masked."""

    key: str = ""
    value: str = ""

    @field_validator("value", mode="after")
    @classmethod
    def _mask_secret_values(cls, value: str, info: ValidationInfo) -> str:
        key = info.data.get("key", "")
        return REDACTED if value and is_secret_key(key) else value


Envs = Annotated[list[EnvVar], BeforeValidator(_list_or_empty)]


class StatusError(NovitaModel):
    """Why an instance failed (Novita fills it when creation or start went wrong)."""

    state: OptStr = None
    message: OptStr = None


class PortMapping(NovitaModel):
    port: int
    type: str = "http"
    #: Externally reachable address; only GET instance sends it (the list view omits it).
    endpoint: OptStr = None


class SshComponent(NovitaModel):
    """SSH access without the password Novita sends alongside it."""

    ssh_command: OptStr = None
    is_running: bool | None = None


class WebTerminalComponent(NovitaModel):
    """Web-terminal access without its password."""

    address: OptStr = None
    is_running: bool | None = None


class JupyterComponent(NovitaModel):
    port: OptInt = None
    address: OptStr = None
    is_running: bool | None = None


class InstanceSummary(NovitaModel):
    """An instance as the list endpoint shows it."""

    id: str
    name: str = ""
    status: str = ""
    status_error: StatusError | None = None
    cluster_id: OptStr = None
    cluster_name: OptStr = None
    product_id: OptStr = None
    product_name: OptStr = None
    image_url: OptStr = None
    image_auth_id: OptStr = None
    command: OptStr = None
    entrypoint: OptStr = None
    gpu_num: OptInt = None
    cpu_num: OptInt = None
    memory: OptFloat = None
    rootfs_size: OptInt = None
    port_mappings: Annotated[list[PortMapping], BeforeValidator(_list_or_empty)] = []
    envs: Envs = []
    kind: OptStr = None
    billing_mode: OptStr = None
    spot_status: OptStr = None

    @field_validator("status_error", mode="before")
    @classmethod
    def _empty_status_error_is_none(cls, value: Any) -> Any:
        # Novita may send {"state": "", "message": ""} for "no error".
        if isinstance(value, dict) and not any(value.get(k) for k in ("state", "message")):
            return None
        return value


class Instance(InstanceSummary):
    """An instance as GET instance shows it, secrets removed."""

    connect_component_ssh: SshComponent | None = Field(
        default=None, validation_alias=AliasChoices("connectComponentSSH", "connect_component_ssh")
    )
    connect_component_web_terminal: WebTerminalComponent | None = None
    connect_component_jupyter: JupyterComponent | None = None
    free_storage_size: OptFloat = None
    keep_data_day: OptInt = None
    created_at: OptStr = None
    last_started_at: OptStr = None


class TemplatePortGroup(NovitaModel):
    type: str = "http"
    ports: Annotated[list[int], BeforeValidator(_list_or_empty)] = []


class Template(NovitaModel):
    id: str = Field(validation_alias=AliasChoices("Id", "id"), serialization_alias="Id")
    name: str = ""
    type: OptStr = None
    channel: OptStr = None
    image: str = ""
    #: ID of the saved registry auth for a private image (Novita names this field ``imageAuth`` on
    #: templates). An inline ``user:pass`` value is never kept.
    image_auth: OptStr = None
    start_command: OptStr = None
    entrypoint: OptStr = None
    rootfs_size: OptInt = None
    ports: Annotated[list[TemplatePortGroup], BeforeValidator(_list_or_empty)] = []
    envs: Envs = []
    min_cuda_version: OptStr = None
    created_at: OptStr = None

    @field_validator("image_auth", mode="after")
    @classmethod
    def _drop_inline_credentials(cls, value: str | None) -> str | None:
        if value is None or not value.strip() or ":" in value:
            return None
        return value.strip()

    def port_list(self) -> list[tuple[int, str]]:
        """Every exposed port as ``(port, type)``, in template order."""
        return [(port, group.type) for group in self.ports for port in group.ports]

    def ports_spec(self) -> str:
        """The ports as the create call wants them: ``"8080/http,22/tcp"``."""
        return ",".join(f"{port}/{kind}" for port, kind in self.port_list())


class RegistryAuth(NovitaModel):
    """A saved container-registry credential. The password is never read into this model."""

    id: str
    name: str = ""
    username: OptStr = None


class MonthlyPrice(NovitaModel):
    price: OptFloat = None
    month: OptInt = None


class Product(NovitaModel):
    id: str
    name: str = ""
    cpu_per_gpu: OptInt = None
    memory_per_gpu: OptInt = None
    disk_per_gpu: OptInt = None
    available_deploy: bool = False
    min_root_fs: OptInt = Field(default=None, validation_alias=AliasChoices("minRootFS", "min_root_fs"))
    max_root_fs: OptInt = Field(default=None, validation_alias=AliasChoices("maxRootFS", "max_root_fs"))
    regions: Annotated[list[str], BeforeValidator(_list_or_empty)] = []
    #: On-demand price as Novita sends it (unit undocumented).
    price: OptFloat = None
    spot_price: OptFloat = None
    monthly_price: Annotated[list[MonthlyPrice], BeforeValidator(_list_or_empty)] = []
    billing_methods: Annotated[list[str], BeforeValidator(_list_or_empty)] = []
    inventory_state: OptStr = None

    @field_validator("available_deploy", mode="before")
    @classmethod
    def _tolerant_bool(cls, value: Any) -> Any:
        if value is None:
            return False
        if isinstance(value, str):
            return value.strip().lower() in {"true", "1", "yes"}
        return value


class RequestEnvVar(BaseModel):
    """An environment variable to set on a new instance; its value is sent as given but never shown."""

    model_config = ConfigDict(extra="forbid", defer_build=True)
    key: str = Field(min_length=1, max_length=511)
    value: str = Field(default="", max_length=4095, repr=False)


def _envs_from_mapping(value: Any) -> Any:
    if value is None:
        return []
    if isinstance(value, dict):
        return [{"key": key, "value": val} for key, val in value.items()]
    return value


class CreateInstanceRequest(NovitaModel):
    """Body of ``POST /gpu/instance/create``.

    Private images are referenced by ``image_auth_id`` only; the inline ``user:pass`` form is not
    offered, so no registry password ever travels in a (possibly retried, possibly logged) request.
    ``envs`` accepts a list of ``{key, value}`` or a plain mapping.
    """

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", defer_build=True
    )

    name: str | None = Field(default=None, max_length=255)
    product_id: str = Field(min_length=1, max_length=255)
    gpu_num: int = Field(default=1, ge=1, le=8)
    rootfs_size: int = Field(default=10, ge=10, le=6144)
    image_url: str = Field(min_length=1, max_length=500)
    image_auth_id: str | None = None
    #: Comma-separated ``port/type`` list, e.g. ``"8080/http,22/tcp"``.
    ports: str | None = None
    envs: Annotated[list[RequestEnvVar], BeforeValidator(_envs_from_mapping)] = Field(
        default=[], max_length=100
    )
    kind: str = "gpu"
    cluster_id: str | None = None
    command: str | None = Field(default=None, max_length=2047)
    entrypoint: str | None = Field(default=None, max_length=2047)
    billing_mode: str | None = None
    min_cuda_version: str | None = None
    network_id: str | None = None

    def to_body(self) -> dict[str, Any]:
        """The JSON body Novita expects (camelCase, unset fields left out)."""
        body: dict[str, Any] = self.model_dump(by_alias=True, exclude_none=True, exclude={"envs"})
        if self.envs:
            body["envs"] = [{"key": env.key, "value": env.value} for env in self.envs]
        return body
