"""Settings of the payments pieces that talk to the outside: provider calls, the Stripe
adapter and merchant webhooks out.

Plain frozen pydantic models, nested in (or built from) the service's settings section,
`PaymentsSettings` (`PAYMENTS_*`). Defaults are production values; tests pass millisecond
schedules.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode

from mercato.platform.config import section_config

_HOST_NAME = re.compile(
    r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*"
)


class ProviderCallPolicy(BaseModel):
    """How the gateway calls one provider: deadline, retry schedule and circuit breaker."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # The whole call, retries and waits included: a checkout request cannot wait longer.
    deadline_s: float = Field(default=30.0, gt=0)
    max_tries: int = Field(default=4, ge=1, le=10)
    # Capped exponential backoff with equal jitter: try n waits in [b/2, b], where
    # b = min(backoff_max_s, backoff_initial_s * 2**(n-1)).
    backoff_initial_s: float = Field(default=0.25, gt=0)
    backoff_max_s: float = Field(default=4.0, gt=0)
    # A 429's Retry-After is honoured up to this many seconds.
    retry_after_cap_s: float = Field(default=10.0, gt=0)
    # No try starts with less than this left before the deadline: a try cut short by the
    # deadline turns a clean "not sent" into "unknown", which costs a reconciliation.
    min_try_budget_s: float = Field(default=2.0, gt=0)
    # Consecutive provider-trouble outcomes that open the breaker, and how long it stays
    # open before one probe call may go through (half-open).
    breaker_failure_threshold: int = Field(default=5, ge=1)
    breaker_recovery_s: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        if self.backoff_initial_s > self.backoff_max_s:
            raise ValueError("backoff_initial_s must not exceed backoff_max_s")
        if self.min_try_budget_s > self.deadline_s:
            raise ValueError("min_try_budget_s must not exceed deadline_s")
        return self


class StripeSettings(BaseModel):
    """The Stripe adapter: secret key, webhook signing secrets (several during a rotation),
    API base (our replay server in tests) and per-request HTTP timeouts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    api_key: SecretStr
    webhook_secrets: tuple[SecretStr, ...] = ()
    api_base: str = "https://api.stripe.com"
    connect_timeout_s: float = Field(default=5.0, gt=0)
    read_timeout_s: float = Field(default=20.0, gt=0)
    webhook_tolerance_s: int = Field(default=300, ge=1, le=600)
    # Pinned so a Stripe-side default change cannot silently change the objects we parse.
    api_version: str | None = None


class MerchantWebhookSettings(BaseModel):
    """Merchant webhooks out: delivery timeout, what is kept of a response, Retry-After cap
    and the SSRF allow-list (CIDRs or host names; empty in production)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    timeout_s: float = Field(default=10.0, gt=0, le=15)
    response_excerpt_bytes: int = Field(default=4_096, ge=0, le=65_536)
    retry_after_cap_s: float = Field(default=36_000.0, ge=0)
    # Targets that may resolve to private, loopback or link-local addresses (development
    # receivers, tests). Each entry is a CIDR ("127.0.0.0/8", "::1/128") or a host name.
    allowed_private_targets: tuple[str, ...] = ()
    user_agent: str = "Mercato-Webhooks/1"
    # Multiplies the retry schedule's delays (not a receiver's Retry-After): 1.0 in
    # production; tests run the whole schedule in about a second with 1e-5.
    retry_scale: float = Field(default=1.0, gt=0, le=1.0)

    @field_validator("allowed_private_targets")
    @classmethod
    def _valid_entries(cls, entries: tuple[str, ...]) -> tuple[str, ...]:
        cleaned = []
        for raw in entries:
            entry = raw.strip().lower().rstrip(".")
            if not entry:
                continue
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                if not _HOST_NAME.fullmatch(entry):
                    raise ValueError(f"not a CIDR or a host name: {entry!r}") from None
            cleaned.append(entry)
        return tuple(cleaned)


class PaymentsSettings(BaseSettings):
    """The payments service (`PAYMENTS_*`): where it runs, its database schema, its
    provider, how it recognises callers, and its merchant webhooks."""

    model_config = section_config("PAYMENTS_")

    host: str = "127.0.0.1"
    port: int = Field(default=8001, ge=1, le=65535)
    # Its own database; unset: the main database's server, schema `payments`.
    database_url: SecretStr | None = None
    provider: Literal["sandbox", "stripe"] = "sandbox"
    sandbox_url: str = "http://127.0.0.1:8002"
    # Unset in development: read from the sandbox's credentials file (docs/sandbox.md).
    sandbox_api_key: SecretStr | None = None
    sandbox_webhook_secrets: Annotated[tuple[SecretStr, ...], NoDecode] = ()
    sandbox_credentials_file: Path = Path(".data/keys/sandbox-credentials.json")
    # One HTTP call to the provider (the gateway's deadline bounds the whole, retries too).
    provider_connect_timeout_s: float = Field(default=2.0, gt=0, le=30)
    provider_read_timeout_s: float = Field(default=10.0, gt=0, le=60)
    # The signing secrets of merchant endpoints are stored encrypted with these keys.
    field_keys_file: Path | None = None  # default: MERCATO_DATA_DIR/keys/payments-field-keys.json
    stripe_api_key: SecretStr | None = None
    stripe_webhook_secrets: Annotated[tuple[SecretStr, ...], NoDecode] = ()
    # Callers: the API's keys (its JWKS) sign customers' access tokens and the short-lived
    # service tokens the API sends with `aud=payments`.
    jwks_url: str = "http://127.0.0.1:8000/.well-known/jwks.json"
    jwt_issuer: str = "mercato"
    customer_audience: str = "mercato-api"
    service_audience: str = "payments"
    # The reconciler: how soon an attempt or refund of unknown outcome is asked about.
    reconcile_after_s: float = Field(default=5.0, gt=0)
    # Merchant webhook targets allowed on private/loopback addresses (development only).
    webhook_allowed_private_targets: Annotated[tuple[str, ...], NoDecode] = ()
    # The retry schedule's delays are multiplied by this (1.0 outside tests).
    webhook_retry_scale: float = Field(default=1.0, gt=0, le=1.0)
    # After a secret rotation the previous secret keeps signing (a second signature) this
    # long, so receivers can switch over without refusing a delivery.
    webhook_secret_grace_s: float = Field(default=86_400.0, ge=0, le=7 * 86_400)
    call_policy: ProviderCallPolicy = Field(default_factory=ProviderCallPolicy)

    @field_validator(
        "sandbox_webhook_secrets",
        "stripe_webhook_secrets",
        "webhook_allowed_private_targets",
        mode="before",
    )
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(item.strip() for item in value.split(",") if item.strip())
        return value

    def stripe(self) -> StripeSettings:
        if self.stripe_api_key is None:
            raise ValueError("PAYMENTS_STRIPE_API_KEY is required with PAYMENTS_PROVIDER=stripe")
        return StripeSettings(
            api_key=self.stripe_api_key, webhook_secrets=self.stripe_webhook_secrets
        )

    def merchant_webhooks(self) -> MerchantWebhookSettings:
        return MerchantWebhookSettings(
            allowed_private_targets=self.webhook_allowed_private_targets,
            retry_scale=self.webhook_retry_scale,
        )
