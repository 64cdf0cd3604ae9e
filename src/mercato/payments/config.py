"""Settings of the payments pieces that talk to the outside: provider calls, the Stripe
adapter and merchant webhooks out.

Plain frozen pydantic models for now: the payments service's own settings class (env prefix
`PAYMENTS_`) will nest them when the service is assembled. Defaults are production values;
tests pass millisecond schedules.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

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
