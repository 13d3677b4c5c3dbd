"""Every environment variable the code reads, modelled and validated once.

Logic never reads ``os.environ``: handlers call :func:`get_settings` at cold start and pass the
values down. A bad value fails fast with a message naming the variable.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_NOVITA_BASE_URL = "https://api.novita.ai/gpu-instance/openapi/v1"


class ConfigurationError(Exception):
    """A setting is missing or invalid; the message names the environment variable."""


class Settings(BaseSettings):
    # Field names are the environment variable names, so an error names the variable as it is set.
    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore", frozen=True)

    # --- Novita API -------------------------------------------------------------------------
    NOVITA_API_KEY: SecretStr | None = Field(
        default=None, description="Novita API key (Bearer token). Required by anything that calls Novita."
    )
    NOVITA_BASE_URL: str = Field(
        default=DEFAULT_NOVITA_BASE_URL,
        pattern=r"^https?://",
        description="Base of the v1 GPU-instance API; the client appends paths like /gpu/instance/start.",
    )
    NOVITA_CONNECT_TIMEOUT_SECONDS: float = Field(default=3.05, gt=0, le=60)
    NOVITA_READ_TIMEOUT_SECONDS: float = Field(default=15.0, gt=0, le=300)
    NOVITA_MAX_ATTEMPTS: int = Field(
        default=4, ge=1, le=10, description="Attempts per Novita call (first try included) where retrying is safe."
    )
    NOVITA_RETRY_BASE_SECONDS: float = Field(default=0.5, ge=0, le=30, description="First backoff delay.")
    NOVITA_RETRY_MAX_SECONDS: float = Field(default=8.0, ge=0, le=120, description="Largest single backoff delay.")
    NOVITA_RETRY_BUDGET_SECONDS: float = Field(
        default=30.0, gt=0, le=900, description="Total time one Novita call may spend, retries and waits included."
    )
    NOVITA_PAGE_SIZE: int = Field(default=100, ge=1, le=1000, description="Page size for list calls.")

    def novita_api_key(self) -> str:
        """The API key, or a ConfigurationError naming the variable."""
        if self.NOVITA_API_KEY is None or not self.NOVITA_API_KEY.get_secret_value().strip():
            raise ConfigurationError("NOVITA_API_KEY is not set: the Novita API key is required")
        return self.NOVITA_API_KEY.get_secret_value().strip()


def load_settings() -> Settings:
    """Read and validate the environment; raise ConfigurationError naming each bad variable."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise ConfigurationError(f"invalid settings: {problems}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, validated once (at cold start)."""
    return load_settings()
