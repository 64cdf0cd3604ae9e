"""Configuration is validated at start, with errors that name the variable at fault."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from mercato.platform.config import (
    DEV_SECRET_KEY,
    DatabaseSettings,
    Environment,
    HttpSettings,
    Settings,
    redact_url,
)
from mercato.platform.server import describe_settings_error


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "DATABASE_READ_URL", "MERCATO_ENV", "MERCATO_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir("/")  # no stray .env file


def test_database_url_gets_the_asyncpg_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:p%40ss@db:5432/shop")
    url = Settings().database.url
    assert url is not None
    assert url.get_secret_value() == "postgresql+asyncpg://app:p%40ss@db:5432/shop"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("not a url", "is not a URL"),
        ("mysql://root@db/shop", "must be a postgresql:// URL"),
        ("postgresql://db:5432", "names no database"),
    ],
)
def test_a_malformed_database_url_is_named_in_one_line(
    monkeypatch: pytest.MonkeyPatch, raw: str, reason: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", raw)
    with pytest.raises(ValidationError) as caught:
        Settings()
    message = describe_settings_error(caught.value)
    assert message.startswith("configuration error: DATABASE_URL: ")
    assert reason in message
    assert "\n" not in message


def test_the_error_line_never_echoes_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "mysql://root:TopSecret@db/shop")
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert "TopSecret" not in describe_settings_error(caught.value)


def test_production_refuses_the_default_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MERCATO_ENV", "production")
    monkeypatch.setenv("DATABASE_URL", "postgresql://app@db/shop")
    with pytest.raises(ValidationError, match="development default"):
        Settings()


def test_production_accepts_a_real_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MERCATO_ENV", "production")
    monkeypatch.setenv("DATABASE_URL", "postgresql://app@db/shop")
    monkeypatch.setenv("MERCATO_SECRET_KEY", "k" * 48)
    settings = Settings()
    assert settings.is_production
    assert settings.secret_key.get_secret_value() != DEV_SECRET_KEY


def test_production_requires_an_explicit_database() -> None:
    with pytest.raises(ValidationError, match="DATABASE_URL is required"):
        Settings(env=Environment.PRODUCTION, secret_key=SecretStr("k" * 48))


def test_development_runs_with_defaults() -> None:
    settings = Settings()
    assert settings.env is Environment.DEVELOPMENT
    assert settings.database.url is None


@pytest.mark.parametrize("origin", ["*", "null", "shop.example.com"])
def test_cors_origins_must_be_exact(monkeypatch: pytest.MonkeyPatch, origin: str) -> None:
    monkeypatch.setenv("HTTP_CORS_ORIGINS", f"https://ok.example.com,{origin}")
    with pytest.raises(ValidationError) as caught:
        HttpSettings()
    assert describe_settings_error(caught.value).startswith(
        "configuration error: HTTP_CORS_ORIGINS"
    )


def test_cors_origins_are_read_as_a_comma_separated_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP_CORS_ORIGINS", "https://a.example.com, https://b.example.com")
    assert HttpSettings().cors_origins == ("https://a.example.com", "https://b.example.com")


def test_pool_limits_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_POOL_SIZE", "0")
    with pytest.raises(ValidationError) as caught:
        DatabaseSettings()
    assert describe_settings_error(caught.value).startswith(
        "configuration error: DATABASE_POOL_SIZE"
    )


def test_redacted_urls_hide_the_password() -> None:
    shown = redact_url("postgresql+asyncpg://app:TopSecret@db:5432/shop")
    assert "TopSecret" not in shown
    assert shown.startswith("postgresql+asyncpg://app:***@db")
