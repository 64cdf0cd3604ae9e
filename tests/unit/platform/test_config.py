"""Configuration is validated at start, with errors that name the variable at fault."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from mercato.identity.config import IdentitySettings
from mercato.modules import MODULES
from mercato.platform.config import (
    DEV_SECRET_KEY,
    DatabaseSettings,
    Environment,
    HttpSettings,
    Settings,
    development_warnings,
    redact_url,
)
from mercato.platform.failures import StartupError
from mercato.platform.settings_loading import describe_settings_error, load_settings

_VARIABLES = (
    "DATABASE_URL",
    "DATABASE_READ_URL",
    "MERCATO_ENV",
    "MERCATO_SECRET_KEY",
    "MERCATO_PORT",
    "REDIS_URL",
    "SMTP_URL",
    "NATS_URL",
    "IDENTITY_PUBLIC_URL",
    "HTTP_CORS_ORIGINS",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _VARIABLES:
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


@pytest.mark.parametrize(
    "variable",
    [
        "DATABASE_URL",
        "DATABASE_READ_URL",
        "REDIS_URL",
        "SMTP_URL",
        "NATS_URL",
        "IDENTITY_PUBLIC_URL",
        "MERCATO_PORT",
        "HTTP_CORS_ORIGINS",
    ],
)
def test_an_empty_variable_means_unset(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    """`REDIS_URL=` in a `.env` file is no Redis, not a URL that crashes start-up."""
    monkeypatch.setenv(variable, "")
    settings = load_settings(MODULES)
    assert settings.redis_url is None
    assert settings.mail.smtp_url is None
    assert settings.database.url is None
    assert settings.port == 8000
    assert settings.events.nats_url == "nats://127.0.0.1:4222"
    assert settings.section(IdentitySettings).public_url is None  # where the API listens


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("REDIS_URL", "http://cache:6379", "REDIS_URL: must be a redis://, rediss:// or unix://"),
        ("REDIS_URL", "redis://cache:port/0", "REDIS_URL: is not a URL such as redis://"),
        ("SMTP_URL", "http://mailer:TopSecret@mail", "SMTP_URL: must be a smtp:// or smtps://"),
        ("SMTP_URL", "smtp://mailer:TopSecret@", "SMTP_URL: names no host"),
        ("NATS_URL", "http://broker:4222", "NATS_URL: must be a nats://"),
        ("IDENTITY_PUBLIC_URL", "shop.example.com", "IDENTITY_PUBLIC_URL: must be a https://"),
    ],
)
def test_a_url_that_would_crash_later_is_refused_at_once(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(StartupError) as caught:
        load_settings(MODULES)
    assert str(caught.value).startswith(f"configuration error: {expected}")
    assert "TopSecret" not in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("env", ["development", "test", "production"])
def test_an_empty_secret_key_is_refused_in_every_environment(
    monkeypatch: pytest.MonkeyPatch, env: str
) -> None:
    monkeypatch.setenv("MERCATO_ENV", env)
    monkeypatch.setenv("DATABASE_URL", "postgresql://app@db/shop")
    monkeypatch.setenv("MERCATO_SECRET_KEY", "")
    with pytest.raises(StartupError, match="MERCATO_SECRET_KEY: is empty"):
        load_settings(MODULES)


def test_every_bad_variable_is_reported_one_line_each(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MERCATO_ENV", "production")
    monkeypatch.setenv("DATABASE_URL", "mysql://root:TopSecret@db/shop")
    monkeypatch.setenv("REDIS_URL", "http://cache")
    monkeypatch.setenv("MERCATO_PORT", "eighty")
    monkeypatch.setenv("IDENTITY_ACCESS_TTL_S", "5")
    with pytest.raises(StartupError) as caught:
        load_settings(MODULES)
    lines = str(caught.value).splitlines()
    assert [line.split(":")[1].strip() for line in lines] == [
        "DATABASE_URL",
        "MERCATO_SECRET_KEY",
        "MERCATO_PORT",
        "REDIS_URL",
        "IDENTITY_ACCESS_TTL_S",
    ]
    assert all(line.startswith("configuration error: ") for line in lines)
    assert "TopSecret" not in str(caught.value)


def test_development_settings_that_look_like_a_deployment_are_warned_about() -> None:
    public_bind = Settings(host="0.0.0.0")
    (warning,) = development_warnings(public_bind)
    assert "binds 0.0.0.0" in warning
    assert "development routes stay off" in warning
    remote = Settings(database=DatabaseSettings(url="postgresql://app:TopSecret@db.internal/shop"))
    (warning,) = development_warnings(remote)
    assert "DATABASE_URL is on db.internal" in warning
    assert "TopSecret" not in warning
    local = Settings(database=DatabaseSettings(url="postgresql://app@localhost:5432/shop"))
    assert development_warnings(local) == []
    assert development_warnings(Settings(host="::1")) == []


def test_production_settings_get_no_development_warning() -> None:
    deployed = Settings(
        env=Environment.PRODUCTION,
        secret_key=SecretStr("k" * 48),
        host="0.0.0.0",
        database=DatabaseSettings(url="postgresql://app@db.internal/shop"),
    )
    assert development_warnings(deployed) == []
