"""The sandbox's settings (`SANDBOX_*`), read once at start-up and passed explicitly.

No secret has a default: API keys and webhook secrets come from the settings (the dev
runner hands the same values to the payments service), or, when unset, from the
credentials file (`credentials.py`), generated on first use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Self

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from mercato.platform.config import normalise_database_url

# Bounds shared by the start-up settings and the run-time knobs (`faults.FaultKnobs`).
LatencyMs = Annotated[int, Field(ge=0, le=30_000)]
Rate = Annotated[float, Field(ge=0.0, le=1.0)]
MIN_SECRET_LENGTH = 16


def _split(value: object) -> object:
    """`a,b` in an environment variable means two values (keys during a rotation)."""
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


class SandboxSettings(BaseSettings):
    """How the simulated card processor runs: where, with which secrets, how faulty."""

    model_config = SettingsConfigDict(
        env_prefix="SANDBOX_",
        env_file=".env",
        extra="ignore",
        frozen=True,
        validate_by_name=True,
        validate_by_alias=True,
    )

    host: str = "127.0.0.1"
    port: int = Field(default=8002, ge=1, le=65535)
    # The base of the URLs the sandbox hands out (the 3-D Secure page); default: host:port.
    public_url: str | None = None
    database_url: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SANDBOX_DATABASE_URL", "DATABASE_URL")
    )
    database_pool_size: int = Field(default=5, ge=1, le=50)

    # Several keys are accepted at once (rotation); the first is the one to hand out.
    api_keys: Annotated[tuple[SecretStr, ...], NoDecode] = ()
    webhook_url: str | None = None
    # Every active secret signs every delivery (one `v1=` each), so receivers can rotate.
    webhook_secrets: Annotated[tuple[SecretStr, ...], NoDecode] = ()
    credentials_file: Path = Path(".data/keys/sandbox-credentials.json")

    # Fault knobs at start-up; `POST /v1/_sandbox/faults` changes them at run time.
    latency_ms: LatencyMs = 0
    error_rate: Rate = 0.0
    rate_limit_rate: Rate = 0.0
    webhooks_paused: bool = False
    webhook_duplicates: bool = False
    webhook_out_of_order: bool = False
    # With webhook_out_of_order: each first delivery waits a random 0 to this many seconds.
    out_of_order_window_s: float = Field(default=2.0, gt=0.0, le=60.0)

    # The "timeout after charging" card answers this long after it charged.
    slow_answer_s: float = Field(default=30.0, ge=0.0, le=120.0)
    # The asynchronous card settles this long after its confirmation.
    async_delay_s: float = Field(default=5.0, ge=0.0, le=3_600.0)

    # Webhook deliveries: timeout per attempt, capped exponential backoff with ±20 %
    # jitter (base · 2^(attempt-1), at most cap), given up after max attempts.
    webhook_timeout_s: float = Field(default=10.0, gt=0.0, le=60.0)
    webhook_retry_base_s: float = Field(default=1.0, gt=0.0, le=3_600.0)
    webhook_retry_cap_s: float = Field(default=3_600.0, gt=0.0, le=86_400.0)
    webhook_max_attempts: int = Field(default=20, ge=1, le=100)
    # How often the background loop looks for due work when nothing woke it up.
    poll_interval_s: float = Field(default=1.0, gt=0.0, le=60.0)
    max_body_bytes: int = Field(default=65_536, ge=1_024, le=10_485_760)

    @field_validator("api_keys", "webhook_secrets", mode="before")
    @classmethod
    def _split_lists(cls, value: object) -> object:
        return _split(value)

    @field_validator("api_keys", "webhook_secrets")
    @classmethod
    def _long_enough(cls, secrets: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        for secret in secrets:
            if len(secret.get_secret_value()) < MIN_SECRET_LENGTH:
                raise ValueError(f"every value must be at least {MIN_SECRET_LENGTH} characters")
        return secrets

    @field_validator("database_url")
    @classmethod
    def _postgresql(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        url = normalise_database_url(value.get_secret_value())
        return SecretStr(url.render_as_string(hide_password=False))

    @field_validator("public_url", "webhook_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _cap_not_below_base(self) -> Self:
        if self.webhook_retry_cap_s < self.webhook_retry_base_s:
            raise ValueError("SANDBOX_WEBHOOK_RETRY_CAP_S must be >= SANDBOX_WEBHOOK_RETRY_BASE_S")
        return self

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    def api_key_values(self) -> tuple[str, ...]:
        return tuple(key.get_secret_value() for key in self.api_keys)

    def webhook_secret_values(self) -> tuple[str, ...]:
        return tuple(secret.get_secret_value() for secret in self.webhook_secrets)
