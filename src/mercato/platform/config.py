"""Configuration, read once from the environment (and an optional `.env`) and validated.

Well-known URLs keep their conventional names (`DATABASE_URL`, `DATABASE_READ_URL`);
everything else is `MERCATO_*` or grouped by prefix (`DATABASE_*`, `HTTP_*`, `LOG_*`).
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

DEV_SECRET_KEY = "dev-insecure-secret-change-me"  # noqa: S105 - the marker that refuses production

_ENV_FILE = ".env"


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class DatabaseSettings(BaseSettings):
    """PostgreSQL connection and pool. No URL means: use the embedded server."""

    model_config = SettingsConfigDict(
        env_prefix="DATABASE_", env_file=_ENV_FILE, extra="ignore", frozen=True
    )

    url: SecretStr | None = None
    read_url: SecretStr | None = None
    pool_size: int = Field(default=10, ge=1, le=200)
    max_overflow: int = Field(default=10, ge=0, le=200)
    pool_timeout_s: float = Field(default=5.0, gt=0)
    connect_timeout_s: float = Field(default=5.0, gt=0)
    statement_timeout_ms: int = Field(default=15_000, ge=0)
    lock_timeout_ms: int = Field(default=5_000, ge=0)
    idle_in_transaction_timeout_ms: int = Field(default=60_000, ge=0)

    @field_validator("url", "read_url")
    @classmethod
    def _must_be_postgresql(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        url = normalise_database_url(value.get_secret_value())
        return SecretStr(url.render_as_string(hide_password=False))


class HttpSettings(BaseSettings):
    """The HTTP surface: CORS, body size, trusted proxies, HSTS."""

    model_config = SettingsConfigDict(
        env_prefix="HTTP_", env_file=_ENV_FILE, extra="ignore", frozen=True
    )

    cors_origins: Annotated[tuple[str, ...], NoDecode] = ()
    max_body_bytes: int = Field(default=1_048_576, ge=1_024)
    hsts: bool = False
    # Peers whose X-Forwarded-For is believed (addresses or CIDR ranges of your proxies).
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = ()
    rate_limits_enabled: bool = True

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(item.strip() for item in value.split(",") if item.strip())
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_networks(cls, proxies: tuple[str, ...]) -> tuple[str, ...]:
        for proxy in proxies:
            ipaddress.ip_network(proxy, strict=False)  # ValueError names the bad entry
        return proxies

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(origin.strip() for origin in value.split(",") if origin.strip())
        return value

    @field_validator("cors_origins")
    @classmethod
    def _exact_origins_only(cls, origins: tuple[str, ...]) -> tuple[str, ...]:
        for origin in origins:
            if origin in {"*", "null"} or not origin.startswith(("http://", "https://")):
                raise ValueError(
                    f"{origin!r} is not an exact origin such as https://shop.example.com"
                )
        return origins


class EventSettings(BaseSettings):
    """The event transport and the relay."""

    model_config = SettingsConfigDict(
        env_prefix="EVENTS_", env_file=_ENV_FILE, extra="ignore", frozen=True
    )

    transport: Literal["postgres", "nats"] = "postgres"
    nats_url: str = Field(default="nats://127.0.0.1:4222", validation_alias="NATS_URL")
    # Ordered lanes per domain on NATS; changing it reshuffles aggregates between lanes.
    nats_partitions: int = Field(default=8, ge=1, le=256)
    relay_batch_size: int = Field(default=500, ge=1, le=10_000)
    poll_interval_s: float = Field(default=1.0, gt=0)
    retention_days: int = Field(default=7, ge=1)


class MailSettings(BaseSettings):
    """Outgoing mail: SMTP when `SMTP_URL` is set, else the development mailbox table."""

    model_config = SettingsConfigDict(
        env_prefix="MAIL_", env_file=_ENV_FILE, extra="ignore", frozen=True
    )

    smtp_url: SecretStr | None = Field(default=None, validation_alias="SMTP_URL")
    sender: str = "Mercato <no-reply@mercato.localhost>"
    timeout_s: float = Field(default=10.0, gt=0)


class JobSettings(BaseSettings):
    """Job workers, and how soon the jobs of a dead worker run again.

    A worker stamps a heartbeat every `heartbeat_interval_s`; one silent for
    `stalled_worker_timeout_s` is dead, and the recovery that every worker runs every
    `recovery_interval_s` requeues its jobs: they run again within about
    timeout + interval seconds of its death (6 s by default).
    """

    model_config = SettingsConfigDict(
        env_prefix="JOBS_", env_file=_ENV_FILE, extra="ignore", frozen=True
    )

    concurrency: int = Field(default=4, ge=1, le=100)
    heartbeat_interval_s: float = Field(default=1.0, gt=0, le=60)
    stalled_worker_timeout_s: float = Field(default=5.0, gt=0)
    recovery_interval_s: float = Field(default=1.0, gt=0, le=60)
    shutdown_timeout_s: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _live_workers_are_never_declared_dead(self) -> Self:
        # Three missed heartbeats at least: a busy event loop or a slow UPDATE delays one.
        if self.stalled_worker_timeout_s < 3 * self.heartbeat_interval_s:
            raise ValueError(
                "JOBS_STALLED_WORKER_TIMEOUT_S must be at least 3 x JOBS_HEARTBEAT_INTERVAL_S:"
                " a live worker that misses a heartbeat would have its jobs run twice"
            )
        return self


class CatalogSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CATALOG_", env_file=_ENV_FILE, extra="ignore", frozen=True
    )

    # `Cache-Control: public, max-age=...` on public catalog reads (browsers, CDNs).
    public_max_age_s: int = Field(default=60, ge=0, le=86_400)
    # `make run` loads a demo catalog into an empty database on first start.
    demo_products: int = Field(default=1_000, ge=0, le=100_000)


class IdentitySettings(BaseSettings):
    """Tokens, sessions and the links put in identity mails."""

    model_config = SettingsConfigDict(
        env_prefix="IDENTITY_", env_file=_ENV_FILE, extra="ignore", frozen=True
    )

    # Links in mails are built from this, never from the request's Host header.
    public_url: str = "http://127.0.0.1:8000"
    jwt_issuer: str = "mercato"
    jwt_audience: str = "mercato-api"
    access_ttl_s: int = Field(default=600, ge=300, le=900)
    refresh_idle_days: int = Field(default=7, ge=1, le=30)
    refresh_absolute_days: int = Field(default=30, ge=1, le=90)
    # A retried refresh within this window gets the successor already issued (not reuse).
    refresh_grace_s: int = Field(default=10, ge=0, le=10)
    # Unverified accounts may sign in (their tokens say `email_verified: false`); false
    # refuses them with 403 /problems/email-not-verified until they confirm.
    allow_unverified_login: bool = True
    verify_email_ttl_h: int = Field(default=24, ge=1, le=24)
    reset_password_ttl_min: int = Field(default=30, ge=5, le=30)
    keys_file: Path | None = None  # default: MERCATO_DATA_DIR/keys/jwt-keys.json
    field_keys_file: Path | None = None  # default: MERCATO_DATA_DIR/keys/field-keys.json
    password_hash_workers: int | None = Field(default=None, ge=1, le=64)


class LogSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LOG_", env_file=_ENV_FILE, extra="ignore", frozen=True
    )

    level: str = "INFO"
    json_output: bool = Field(default=True, validation_alias="LOG_JSON")
    # One line per request. Off only where a proxy logs requests already (or in benchmarks,
    # per the performance method): it costs ~10 % of a cached read.
    access: bool = True

    @field_validator("level")
    @classmethod
    def _known_level(cls, level: str) -> str:
        level = level.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level


class Settings(BaseSettings):
    """The root settings object; one per process, passed explicitly (never a global)."""

    model_config = SettingsConfigDict(
        env_prefix="MERCATO_", env_file=_ENV_FILE, extra="ignore", frozen=True
    )

    env: Environment = Environment.DEVELOPMENT
    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    data_dir: Path = Path(".data")
    # Shared state across API processes (rate limits now; caches later). Unset: in-process.
    redis_url: str | None = Field(default=None, validation_alias="REDIS_URL")
    embedded_db_port: int = Field(default=0, ge=0, le=65535)
    readiness_timeout_s: float = Field(default=2.0, gt=0)

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    events: EventSettings = Field(default_factory=EventSettings)
    mail: MailSettings = Field(default_factory=MailSettings)
    jobs: JobSettings = Field(default_factory=JobSettings)
    identity: IdentitySettings = Field(default_factory=IdentitySettings)
    catalog: CatalogSettings = Field(default_factory=CatalogSettings)

    @model_validator(mode="after")
    def _no_default_secrets_in_production(self) -> Self:
        if self.env is Environment.PRODUCTION:
            if self.secret_key.get_secret_value() == DEV_SECRET_KEY:
                raise ValueError("MERCATO_SECRET_KEY still holds the development default")
            if len(self.secret_key.get_secret_value()) < 32:
                raise ValueError("MERCATO_SECRET_KEY must be at least 32 characters")
            if self.database.url is None:
                raise ValueError("DATABASE_URL is required in production")
        return self

    @property
    def is_production(self) -> bool:
        return self.env is Environment.PRODUCTION

    @property
    def jwt_keys_file(self) -> Path:
        return self.identity.keys_file or Path(self.data_dir) / "keys" / "jwt-keys.json"

    @property
    def field_keys_file(self) -> Path:
        return self.identity.field_keys_file or Path(self.data_dir) / "keys" / "field-keys.json"


def normalise_database_url(raw: str) -> URL:
    """Parse a PostgreSQL URL and pin the asyncpg driver; refuse anything else."""
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ValueError("is not a URL such as postgresql://user:pass@host:5432/db") from None
    if url.get_backend_name() != "postgresql":
        raise ValueError(f"must be a postgresql:// URL, not {url.get_backend_name()}://")
    if not url.database:
        raise ValueError("names no database (postgresql://user@host:5432/DBNAME)")
    return url.set(drivername="postgresql+asyncpg")


def redact_url(url: URL | str) -> str:
    """A URL safe to print or log: the password is masked."""
    parsed = make_url(url) if isinstance(url, str) else url
    return parsed.render_as_string(hide_password=True)
