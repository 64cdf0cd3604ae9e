"""Sandbox settings from the environment: lists, the database fallback, bounds."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mercato.sandbox.config import SandboxSettings

KEY_A = "sk_sandbox_aaaaaaaaaaaaaaaa"
KEY_B = "sk_sandbox_bbbbbbbbbbbbbbbb"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("SANDBOX_DATABASE_URL", raising=False)


def test_defaults() -> None:
    settings = SandboxSettings()

    assert (settings.host, settings.port) == ("127.0.0.1", 8002)
    assert settings.base_url == "http://127.0.0.1:8002"
    assert settings.database_url is None
    assert settings.api_keys == ()
    assert settings.slow_answer_s == 30.0


def test_comma_separated_keys_and_secrets_mean_several(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_API_KEYS", f"{KEY_A}, {KEY_B}")
    monkeypatch.setenv("SANDBOX_WEBHOOK_SECRETS", "whsec_0123456789abcdef")

    settings = SandboxSettings()

    assert settings.api_key_values() == (KEY_A, KEY_B)
    assert settings.webhook_secret_values() == ("whsec_0123456789abcdef",)
    assert KEY_A not in repr(settings)


def test_the_database_falls_back_to_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://shared@db:5432/mercato")
    assert SandboxSettings().database_url is not None
    fallback = SandboxSettings().database_url
    assert fallback is not None
    assert fallback.get_secret_value() == "postgresql+asyncpg://shared@db:5432/mercato"

    monkeypatch.setenv("SANDBOX_DATABASE_URL", "postgresql://own@db:5432/sandbox")
    own = SandboxSettings().database_url
    assert own is not None
    assert own.get_secret_value() == "postgresql+asyncpg://own@db:5432/sandbox"


def test_explicit_settings_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_PORT", "9000")
    monkeypatch.setenv("SANDBOX_DATABASE_URL", "postgresql://env@db:5432/sandbox")

    settings = SandboxSettings(port=9100, database_url="postgresql://given@db:5432/sandbox")

    assert settings.port == 9100
    assert settings.database_url is not None
    assert "given" in settings.database_url.get_secret_value()


@pytest.mark.parametrize(
    "values",
    [
        {"api_keys": "short"},
        {"webhook_secrets": "whsec_short"},
        {"database_url": "mysql://x@y/z"},
        {"webhook_url": "ftp://example.com"},
        {"error_rate": 1.5},
        {"latency_ms": -1},
        {"slow_answer_s": 121},
        {"webhook_retry_base_s": 10, "webhook_retry_cap_s": 5},
    ],
)
def test_bad_values_are_refused(values: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        SandboxSettings.model_validate(values)
