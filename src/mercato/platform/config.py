"""Configuration, read once from the environment (and an optional `.env`) and validated.

Well-known URLs keep their conventional names (`DATABASE_URL`, `DATABASE_READ_URL`);
everything else is `MERCATO_*` or grouped by prefix (`DATABASE_*`, `HTTP_*`, `LOG_*`).

An empty variable means unset (`REDIS_URL=` in a `.env` file is no Redis, not a URL to
parse), with one exception: an empty `MERCATO_SECRET_KEY` is refused, since whoever wrote
it meant to fill it in. URLs are checked here, at start, so that `mercato check` refuses
what would crash the process later.
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    Field,
    PrivateAttr,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

DEV_SECRET_KEY = "dev-insecure-secret-change-me"  # noqa: S105 - the marker that refuses production

_ENV_FILE = ".env"
S = TypeVar("S", bound=BaseSettings)


def section_config(env_prefix: str) -> SettingsConfigDict:
    """The model config of a settings section: its variables are `<env_prefix>*`, read from
    the environment or the `.env` file (an empty one counts as unset); frozen once read."""
    return SettingsConfigDict(
        env_prefix=env_prefix,
        env_file=_ENV_FILE,
        env_ignore_empty=True,
        extra="ignore",
        frozen=True,
    )


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class DatabaseSettings(BaseSettings):
    """PostgreSQL connection and pool. No URL means: use the embedded server."""

    model_config = section_config("DATABASE_")

    url: SecretStr | None = None
    read_url: SecretStr | None = None
    pool_size: int = Field(default=10, ge=1, le=200)
    max_overflow: int = Field(default=10, ge=0, le=200)
    pool_timeout_s: float = Field(default=5.0, gt=0)
    connect_timeout_s: float = Field(default=5.0, gt=0)
    statement_timeout_ms: int = Field(default=15_000, ge=0)
    lock_timeout_ms: int = Field(default=5_000, ge=0)
    idle_in_transaction_timeout_ms: int = Field(default=60_000, ge=0)
    # With a replica: how long a write's commit listeners wait for it to replay the commit.
    replica_wait_ms: int = Field(default=1_000, ge=0, le=30_000)
    # The schema a service's tables live in (its connections' `search_path`): a service of
    # its own (payments) keeps its tables, outbox and job queue there. None: `public`.
    schema_name: str | None = Field(default=None, pattern=r"^[a-z_][a-z0-9_]{0,62}$")

    @field_validator("url", "read_url")
    @classmethod
    def _must_be_postgresql(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        url = normalise_database_url(value.get_secret_value())
        return SecretStr(url.render_as_string(hide_password=False))


class HttpSettings(BaseSettings):
    """The HTTP surface: CORS, body size, trusted proxies, HSTS."""

    model_config = section_config("HTTP_")

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

    model_config = section_config("EVENTS_")

    transport: Literal["postgres", "nats"] = "postgres"
    nats_url: str = Field(default="nats://127.0.0.1:4222", validation_alias="NATS_URL")

    @field_validator("nats_url")
    @classmethod
    def _nats_scheme(cls, url: str) -> str:
        return checked_url(url, schemes=("nats", "tls", "ws", "wss"), example="nats://host:4222")

    # Ordered lanes per domain on NATS; changing it reshuffles aggregates between lanes.
    nats_partitions: int = Field(default=8, ge=1, le=256)
    relay_batch_size: int = Field(default=500, ge=1, le=10_000)
    # Events a PostgreSQL-transport consumer reads and applies per transaction.
    consumer_batch_size: int = Field(default=500, ge=1, le=10_000)
    # On the PostgreSQL transport, where another service's event log is when it is not in
    # that service's schema of this database: {"payments": "postgresql://…"} (JSON).
    source_urls: dict[str, str] = Field(default_factory=dict)
    poll_interval_s: float = Field(default=1.0, gt=0)
    retention_days: int = Field(default=7, ge=1)


class MailSettings(BaseSettings):
    """Outgoing mail: SMTP when `SMTP_URL` is set, else the development mailbox table."""

    model_config = section_config("MAIL_")

    smtp_url: SecretStr | None = Field(default=None, validation_alias="SMTP_URL")
    sender: str = "Mercato <no-reply@mercato.localhost>"
    timeout_s: float = Field(default=10.0, gt=0)

    @field_validator("smtp_url")
    @classmethod
    def _smtp_scheme(cls, url: SecretStr | None) -> SecretStr | None:
        if url is not None:
            checked_url(
                url.get_secret_value(),
                schemes=("smtp", "smtps"),
                example="smtp://user:pass@host:587?starttls=true or smtps://host:465",
            )
        return url


class JobSettings(BaseSettings):
    """Job workers, and how soon the jobs of a dead worker run again.

    A worker stamps a heartbeat every `heartbeat_interval_s`; one silent for
    `stalled_worker_timeout_s` is dead, and the recovery that every worker runs every
    `recovery_interval_s` requeues its jobs: they run again within about
    timeout + interval seconds of its death (6 s by default).
    """

    model_config = section_config("JOBS_")

    concurrency: int = Field(default=4, ge=1, le=100)
    heartbeat_interval_s: float = Field(default=1.0, gt=0, le=60)
    stalled_worker_timeout_s: float = Field(default=5.0, gt=0)
    recovery_interval_s: float = Field(default=1.0, gt=0, le=60)
    shutdown_timeout_s: float = Field(default=30.0, gt=0)
    # New jobs wake a worker at once (NOTIFY); jobs scheduled for later (retries, expiries)
    # are found by this poll.
    poll_interval_s: float = Field(default=5.0, gt=0, le=60)
    # Finished jobs are deleted this long after they end (their arguments name addresses):
    # succeeded ones after `retention_hours`, failed and cancelled ones after a week more,
    # for the post-mortem.
    retention_hours: int = Field(default=24, ge=1, le=24 * 90)

    @model_validator(mode="after")
    def _live_workers_are_never_declared_dead(self) -> Self:
        # Three missed heartbeats at least: a busy event loop or a slow UPDATE delays one.
        if self.stalled_worker_timeout_s < 3 * self.heartbeat_interval_s:
            raise ValueError(
                "JOBS_STALLED_WORKER_TIMEOUT_S must be at least 3 x JOBS_HEARTBEAT_INTERVAL_S:"
                " a live worker that misses a heartbeat would have its jobs run twice"
            )
        return self


class LogSettings(BaseSettings):
    model_config = section_config("LOG_")

    level: str = "INFO"
    # JSON lines, or the console format. Unset: the console format on a developer's
    # terminal (MERCATO_ENV=development and stderr a TTY), JSON lines everywhere else.
    json_output: bool | None = Field(default=None, validation_alias="LOG_JSON")
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

    # Empty values are dropped by `_empty_means_unset` instead, which keeps an empty secret.
    model_config = SettingsConfigDict(**{**section_config("MERCATO_"), "env_ignore_empty": False})

    env: Environment = Environment.DEVELOPMENT
    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    data_dir: Path = Path(".data")
    # Shared state across API processes (rate limits, caches). Unset: in-process.
    redis_url: str | None = Field(default=None, validation_alias="REDIS_URL")
    embedded_db_port: int = Field(default=0, ge=0, le=65535)
    readiness_timeout_s: float = Field(default=2.0, gt=0)
    # `/metrics` for holders of this bearer token; unset: only for this host's own scrapers.
    metrics_token: SecretStr | None = Field(default=None, min_length=32)
    # How long the database gauges of `/metrics` (outbox, lag, jobs) are reused.
    metrics_db_refresh_s: float = Field(default=15.0, ge=0, le=3600)
    # A worker running on its own (`mercato worker`, `mercato payments worker`) serves its
    # metrics (relay, jobs, merchant webhook deliveries) on 127.0.0.1 at this port; unset:
    # none (in `mercato run` the workers share the servers' `/metrics`).
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65535)
    # A worker running on its own touches this file every 10 s while its event loop turns
    # (a liveness probe checks its age, `platform/heartbeat.py`); unset: no file.
    worker_heartbeat_file: Path | None = None
    # The development routes (`/dev/mailbox`): None mounts them in development on a loopback
    # bind only; true mounts them on any bind (development and test only); false never.
    dev_routes: bool | None = None

    database: DatabaseSettings = Field(default_factory=DatabaseSettings, validate_default=True)
    http: HttpSettings = Field(default_factory=HttpSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    events: EventSettings = Field(default_factory=EventSettings)
    mail: MailSettings = Field(default_factory=MailSettings)
    jobs: JobSettings = Field(default_factory=JobSettings)
    # Each context's own settings class (`Module.settings`), read on first use.
    _sections: dict[type[BaseSettings], BaseSettings] = PrivateAttr(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _empty_means_unset(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v != "" or k == "secret_key"}
        return data

    @field_validator("secret_key")
    @classmethod
    def _a_real_secret(cls, secret: SecretStr, info: ValidationInfo) -> SecretStr:
        value = secret.get_secret_value()
        if not value.strip():
            raise ValueError(
                "is empty: set a random value of at least 32 characters"
                " (or remove the variable to use the development value outside production)"
            )
        if info.data.get("env") is Environment.PRODUCTION:
            if value == DEV_SECRET_KEY:
                raise ValueError("still holds the development default")
            if len(value) < 32:
                raise ValueError("must be at least 32 characters in production")
        return secret

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, url: str | None) -> str | None:
        if url is None:
            return None
        return checked_url(
            url, schemes=("redis", "rediss", "unix"), example="redis://host:6379/0", host=False
        )

    @field_validator("dev_routes")
    @classmethod
    def _no_dev_routes_in_production(cls, wanted: bool | None, info: ValidationInfo) -> bool | None:
        if wanted and info.data.get("env") is Environment.PRODUCTION:
            raise ValueError("the development routes are never served in production")
        return wanted

    @field_validator("database")
    @classmethod
    def _explicit_database_in_production(
        cls, database: DatabaseSettings, info: ValidationInfo
    ) -> DatabaseSettings:
        if info.data.get("env") is Environment.PRODUCTION and database.url is None:
            raise ValueError("DATABASE_URL is required in production")
        return database

    @property
    def is_production(self) -> bool:
        return self.env is Environment.PRODUCTION

    @property
    def serves_dev_routes(self) -> bool:
        """`/dev/mailbox` holds every reset link sent without SMTP: mounted when asked for
        (`MERCATO_DEV_ROUTES=true`), else in development on a loopback bind only."""
        if self.dev_routes is not None:
            return self.dev_routes
        return self.env is Environment.DEVELOPMENT and is_loopback(self.host)

    def section(self, kind: type[S]) -> S:
        """A context's settings (`IdentitySettings`, ...): the one given by `with_section`,
        else read from the environment on first use and kept."""
        found = self._sections.get(kind)
        if found is None:
            found = self._sections[kind] = kind()
        assert isinstance(found, kind)
        return found

    def with_section(self, section: BaseSettings) -> Self:
        """A copy whose `section(type(section))` is `section` (tests, the CLI)."""
        copy = self.model_copy()
        copy._sections = {**self._sections, type(section): section}
        return copy

    def key_file(self, configured: Path | None, name: str) -> Path:
        """A key file's path: the configured one, else `<data dir>/keys/<name>`."""
        return configured or Path(self.data_dir) / "keys" / name


def development_warnings(settings: Settings) -> list[str]:
    """What looks like a deployment running with development settings: the API reachable
    from other machines, or someone else's database. Warnings, not errors: a developer
    may mean it (a VM, a container, a shared development database)."""
    if settings.env is not Environment.DEVELOPMENT:
        return []
    warnings = []
    if not is_loopback(settings.host):
        routes = (
            "the development routes (/dev/mailbox, every reset link) are served to it"
            if settings.serves_dev_routes
            else "the development routes stay off unless MERCATO_DEV_ROUTES=true"
        )
        warnings.append(
            f"MERCATO_ENV is development but the API binds {settings.host}, reachable from"
            f" other machines; {routes}. Set MERCATO_ENV=production for a deployment."
        )
    if settings.database.url is not None:
        from sqlalchemy.engine import make_url  # noqa: PLC0415 - see normalise_database_url

        host = make_url(settings.database.url.get_secret_value()).host
        if host is not None and not host.startswith("/") and not is_loopback(host):
            warnings.append(
                f"MERCATO_ENV is development but DATABASE_URL is on {host}, not this machine."
                " Set MERCATO_ENV=production if this is a deployment."
            )
    return warnings


def normalise_database_url(raw: str) -> URL:
    """Parse a PostgreSQL URL and pin the asyncpg driver; refuse anything else."""
    # Imported here: the command line reads settings, and `mercato --help` must not pay
    # for SQLAlchemy.
    from sqlalchemy.engine import make_url  # noqa: PLC0415
    from sqlalchemy.exc import ArgumentError  # noqa: PLC0415

    try:
        url = make_url(raw)
    except ArgumentError:
        raise ValueError("is not a URL such as postgresql://user:pass@host:5432/db") from None
    if url.get_backend_name() != "postgresql":
        raise ValueError(f"must be a postgresql:// URL, not {url.get_backend_name()}://")
    if not url.database:
        raise ValueError("names no database (postgresql://user@host:5432/DBNAME)")
    return url.set(drivername="postgresql+asyncpg")


def checked_url(url: str, *, schemes: tuple[str, ...], example: str, host: bool = True) -> str:
    """`url` if it has one of `schemes` (and a host, unless `host` is false); the error
    names the schemes and an example, never the value (it may hold a password)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        raise ValueError(f"is not a URL such as {example}") from None
    if parts.scheme not in schemes:
        names = [f"{scheme}://" for scheme in schemes]
        wanted = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
        raise ValueError(f"must be a {wanted} URL such as {example}")
    if host and not parts.hostname:
        raise ValueError(f"names no host (a URL such as {example})")
    return url


def is_loopback(host: str) -> bool:
    """Whether binding `host` serves this machine only (`localhost`, 127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def redact_url(url: URL | str) -> str:
    """A URL safe to print or log: the password is masked."""
    from sqlalchemy.engine import make_url  # noqa: PLC0415 - see normalise_database_url

    parsed = make_url(url) if isinstance(url, str) else url
    return parsed.render_as_string(hide_password=True)
