from __future__ import annotations

import pytest

from novita_orchestrator.settings import DEFAULT_NOVITA_BASE_URL, ConfigurationError, Settings, load_settings


def test_defaults_hold_without_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOVITA_BASE_URL", raising=False)
    settings = load_settings()
    assert settings.NOVITA_BASE_URL == DEFAULT_NOVITA_BASE_URL
    assert settings.NOVITA_MAX_ATTEMPTS >= 1


def test_a_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOVITA_READ_TIMEOUT_SECONDS", "soon")
    with pytest.raises(ConfigurationError, match="NOVITA_READ_TIMEOUT_SECONDS"):
        load_settings()


def test_an_out_of_range_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOVITA_MAX_ATTEMPTS", "0")
    with pytest.raises(ConfigurationError, match="NOVITA_MAX_ATTEMPTS"):
        load_settings()


def test_an_unknown_poll_schedule_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLL_SCHEDULE", "fixed")
    with pytest.raises(ConfigurationError, match="POLL_SCHEDULE"):
        load_settings()


def test_base_url_must_be_http(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOVITA_BASE_URL", "api.novita.ai")
    with pytest.raises(ConfigurationError, match="NOVITA_BASE_URL"):
        load_settings()


def test_missing_api_key_is_reported_by_name() -> None:
    with pytest.raises(ConfigurationError, match="NOVITA_API_KEY"):
        Settings(NOVITA_API_KEY=None).novita_api_key()


def test_api_key_is_not_shown_in_the_settings_repr() -> None:
    settings = Settings(NOVITA_API_KEY="sk_live_do_not_print_me")
    assert "sk_live_do_not_print_me" not in repr(settings)
    assert "sk_live_do_not_print_me" not in str(settings.model_dump())
    assert settings.novita_api_key() == "sk_live_do_not_print_me"


def test_an_empty_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    # Templates render optional values as "", and the local engine blanks other functions' variables.
    for name in ("NOVITA_BASE_URL", "NOVITA_MAX_ATTEMPTS", "RESILIENCE_TABLE_NAME"):
        monkeypatch.setenv(name, "")
    monkeypatch.setenv("ALLOW_PRIVATE_NETWORK_TARGETS", "")
    settings = load_settings()
    assert settings.NOVITA_BASE_URL == DEFAULT_NOVITA_BASE_URL
    assert settings.NOVITA_MAX_ATTEMPTS == 4
    assert settings.RESILIENCE_TABLE_NAME is None
    assert settings.ALLOW_PRIVATE_NETWORK_TARGETS is False
