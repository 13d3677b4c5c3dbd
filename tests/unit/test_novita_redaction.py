"""Redaction of anything from Novita before it is logged."""

from __future__ import annotations

from novita_orchestrator.novita.models import RegistryAuth
from novita_orchestrator.novita.redaction import redact, redact_text, secret_values


def test_secret_keys_are_masked_at_any_depth() -> None:
    data = {
        "id": "inst-1",
        "connectComponentSSH": {"sshCommand": "ssh root@host", "password": "p4ss-word"},
        "data": [{"id": "auth-1", "username": "deploy", "password": "reg-pass"}],
        "headers": {"Authorization": "Bearer sk_live_123456"},
        "sshPassword": "ssh-pass",
        "imageAuth": "deploy:reg-pass",
        "imageAuthId": "auth-1",
        "apiKey": "sk_live_123456",
        "client_secret": "s3cr3t",
    }

    masked = redact(data)

    text = repr(masked)
    for secret in ("p4ss-word", "reg-pass", "sk_live_123456", "ssh-pass", "s3cr3t"):
        assert secret not in text
    assert masked["imageAuthId"] == "auth-1"
    assert masked["connectComponentSSH"]["sshCommand"] == "ssh root@host"
    assert masked["data"][0]["username"] == "deploy"


def test_secret_environment_values_are_masked() -> None:
    envs = [{"key": "HF_TOKEN", "value": "hf_abcdef"}, {"key": "EPOCHS", "value": "10"}]

    assert redact(envs) == [{"key": "HF_TOKEN", "value": "***"}, {"key": "EPOCHS", "value": "10"}]


def test_strings_lose_bearer_tokens_and_url_passwords() -> None:
    text = "called with Bearer sk_live_123456 and https://deploy:reg-pass@registry.example.com/app"

    assert redact(text) == "called with Bearer *** and https://deploy:***@registry.example.com/app"


def test_known_secrets_are_masked_in_free_text() -> None:
    assert redact_text("key sk_live_123456 rejected", {"sk_live_123456"}) == "key *** rejected"
    # Too short to search for safely: left alone rather than mangling the text.
    assert redact_text("a b c", {"a"}) == "a b c"


def test_models_are_redacted_through_their_dump() -> None:
    auth = RegistryAuth(id="auth-1", name="team", username="deploy")

    assert redact(auth) == {"id": "auth-1", "name": "team", "username": "deploy"}


def test_empty_secret_fields_stay_empty() -> None:
    assert redact({"password": "", "token": None}) == {"password": "", "token": None}


def test_secret_values_finds_what_a_request_carries() -> None:
    body = {
        "name": "w",
        "imageAuth": "deploy:reg-pass",
        "envs": [{"key": "HF_TOKEN", "value": "hf_abcdef"}, {"key": "EPOCHS", "value": "10"}],
    }

    assert secret_values(body) == {"deploy:reg-pass", "reg-pass", "hf_abcdef"}


def test_words_after_secret_keywords_are_masked_in_free_text() -> None:
    assert redact_text("backend choked on password hunter2x for user") == (
        "backend choked on password *** for user"
    )
    assert redact_text('{"password": "abc123", "name": "n"}') == '{"password": "***", "name": "n"}'
    assert redact_text("token=abc123; next") == "token=***; next"
