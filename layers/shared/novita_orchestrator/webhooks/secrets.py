"""The webhook signing secrets: ``whsec_…`` values, newest first, from Secrets Manager or a setting.

A secret's value is one or more Standard Webhooks secrets, comma-separated, newest first: during a
rotation both are active and every delivery carries one signature per secret, so receivers keep
verifying whichever they know. A value without the ``whsec_`` prefix is read as the base64 key
itself (the template's generated secret is 32 base64 characters); receivers then use
``whsec_<value>``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass, field

from novita_orchestrator.settings import ConfigurationError, WebhookDispatcherSettings

SECRET_PREFIX = "whsec_"
_MIN_KEY_BYTES = 16

SecretFetcher = Callable[[str, int], str]
"""(secret ARN or name, cache seconds) -> the secret's string value."""


@dataclass(frozen=True)
class SigningSecrets:
    """Active secrets, newest first; never shown in reprs, logs or errors."""

    values: tuple[str, ...] = field(repr=False)

    def __post_init__(self) -> None:
        if not self.values:
            raise ConfigurationError("no webhook signing secret is configured")

    @property
    def newest(self) -> str:
        return self.values[0]

    def __len__(self) -> int:
        return len(self.values)


def parse_signing_secrets(text: str, source: str) -> SigningSecrets:
    """Split and validate a comma-separated list; ``source`` names where it came from (for errors)."""
    values: list[str] = []
    for position, raw in enumerate(part.strip() for part in text.split(",")):
        if not raw:
            continue
        secret = raw if raw.startswith(SECRET_PREFIX) else SECRET_PREFIX + raw
        try:
            # Unpadded base64 is accepted, as the standardwebhooks library does.
            encoded = secret.removeprefix(SECRET_PREFIX).rstrip("=")
            key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except binascii.Error:
            # The message names the position only: the value itself is a secret.
            raise ConfigurationError(f"{source}: secret #{position + 1} is not valid base64") from None
        if len(key) < _MIN_KEY_BYTES:
            raise ConfigurationError(
                f"{source}: secret #{position + 1} is shorter than {_MIN_KEY_BYTES} bytes of key"
            )
        values.append(secret)
    if not values:
        raise ConfigurationError(f"{source} holds no webhook signing secret")
    return SigningSecrets(tuple(values))


def load_signing_secrets(settings: WebhookDispatcherSettings, fetch: SecretFetcher) -> SigningSecrets:
    """WEBHOOK_SIGNING_SECRET when set (local runs), else the Secrets Manager secret WEBHOOK_SECRET_ARN."""
    if settings.WEBHOOK_SIGNING_SECRET is not None:
        return parse_signing_secrets(
            settings.WEBHOOK_SIGNING_SECRET.get_secret_value(), "WEBHOOK_SIGNING_SECRET"
        )
    assert settings.WEBHOOK_SECRET_ARN, "the settings require one of the two"
    text = fetch(settings.WEBHOOK_SECRET_ARN, settings.WEBHOOK_SECRET_CACHE_SECONDS)
    return parse_signing_secrets(text, "WEBHOOK_SECRET_ARN")
