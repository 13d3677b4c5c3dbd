from __future__ import annotations

import pytest

from novita_orchestrator.environment import function_environment
from novita_orchestrator.settings import (
    DEFAULT_NOVITA_BASE_URL,
    FUNCTION_SETTINGS,
    ConfigurationError,
    NovitaSettings,
    PollStatusSettings,
    ResolveTargetSettings,
)

KEY = {"NOVITA_API_KEY": "sk_test"}


def load_settings() -> NovitaSettings:
    return NovitaSettings.load(**KEY)


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
        PollStatusSettings.load(**KEY, OPERATIONS_TABLE_NAME="ops")


def test_base_url_must_be_http(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOVITA_BASE_URL", "api.novita.ai")
    with pytest.raises(ConfigurationError, match="NOVITA_BASE_URL"):
        load_settings()


def test_missing_api_key_is_reported_by_name() -> None:
    with pytest.raises(ConfigurationError, match="NOVITA_API_KEY"), function_environment({}):
        NovitaSettings.load()
    # A key in Secrets Manager will do (it is read when the function is built).
    with function_environment({"NOVITA_API_KEY_SECRET_ARN": "arn:aws:secretsmanager:novita"}):
        assert NovitaSettings.load().novita_api_key() is None


def test_api_key_is_not_shown_in_the_settings_repr() -> None:
    settings = NovitaSettings(NOVITA_API_KEY="sk_live_do_not_print_me")
    assert "sk_live_do_not_print_me" not in repr(settings)
    assert "sk_live_do_not_print_me" not in str(settings.model_dump())
    assert settings.novita_api_key() == "sk_live_do_not_print_me"


def test_an_empty_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    # Templates render optional values as "" (e.g. an empty parameter).
    for name in ("NOVITA_BASE_URL", "NOVITA_MAX_ATTEMPTS", "RESILIENCE_TABLE_NAME"):
        monkeypatch.setenv(name, "")
    monkeypatch.setenv("ALLOW_PRIVATE_NETWORK_TARGETS", "")
    settings = ResolveTargetSettings.load(**KEY, OPERATIONS_TABLE_NAME="ops")
    assert settings.NOVITA_BASE_URL == DEFAULT_NOVITA_BASE_URL
    assert settings.NOVITA_MAX_ATTEMPTS == 4
    assert settings.RESILIENCE_TABLE_NAME is None
    assert settings.ALLOW_PRIVATE_NETWORK_TARGETS is False


def test_each_function_requires_what_it_reads_and_names_it() -> None:
    with function_environment({}):
        with pytest.raises(ConfigurationError, match=r"OPERATIONS_TABLE_NAME: is not set"):
            ResolveTargetSettings.load(**KEY)
        with pytest.raises(ConfigurationError, match="STATE_MACHINE_ARN: is not set"):
            FUNCTION_SETTINGS["StartTriggerFunction"].load()
        # FinishOperation never calls Novita: it needs no key.
        assert FUNCTION_SETTINGS["FinishOperationFunction"].load(
            OPERATIONS_TABLE_NAME="ops", LEASE_STATE_MACHINE_ARN="arn:aws:states:::stateMachine:lease"
        )
        with pytest.raises(ConfigurationError, match="LEASE_STATE_MACHINE_ARN: is not set"):
            FUNCTION_SETTINGS["FinishOperationFunction"].load(OPERATIONS_TABLE_NAME="ops")


def test_rules_between_variables_are_the_models_and_name_both() -> None:
    with pytest.raises(ConfigurationError, match=r"POLL_MIN_SECONDS.*POLL_MAX_SECONDS"):
        PollStatusSettings.load(**KEY, OPERATIONS_TABLE_NAME="ops", POLL_MIN_SECONDS=90, POLL_MAX_SECONDS=60)
    with pytest.raises(ConfigurationError, match=r"BREAKER_SUCCESSES_TO_CLOSE.*BREAKER_HALF_OPEN_PROBES"):
        NovitaSettings.load(**KEY, BREAKER_HALF_OPEN_PROBES=2, BREAKER_SUCCESSES_TO_CLOSE=3)


def test_the_environment_a_call_is_given_is_what_its_settings_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOVITA_PAGE_SIZE", "7")
    with function_environment({**KEY, "NOVITA_PAGE_SIZE": "9"}):
        assert NovitaSettings.load().NOVITA_PAGE_SIZE == 9
    assert load_settings().NOVITA_PAGE_SIZE == 7
