"""Orders' settings (`ORDERS_*`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings

from mercato.platform.config import checked_url, section_config


class OrdersSettings(BaseSettings):
    model_config = section_config("ORDERS_")

    # Where the payments service listens (the API calls it with service tokens); `mercato
    # run` sets it to the payments service it starts.
    payments_url: str = "http://127.0.0.1:8001"
    # Where a customer's browser reaches it to confirm a payment (default: `payments_url`).
    payments_public_url: str | None = None
    # One call to the payments service: connect and read timeouts, tries (backoff with
    # jitter between them), and the breaker that skips it while it is down.
    payments_connect_timeout_s: float = Field(default=2.0, gt=0, le=30)
    payments_read_timeout_s: float = Field(default=5.0, gt=0, le=60)
    payments_max_tries: int = Field(default=3, ge=1, le=10)
    payments_backoff_initial_s: float = Field(default=0.1, ge=0, le=10)
    payments_backoff_max_s: float = Field(default=2.0, ge=0, le=60)
    payments_breaker_failures: int = Field(default=5, ge=1, le=1_000)
    payments_breaker_reset_s: float = Field(default=10.0, gt=0, le=600)
    # How long a checkout holds its stock while the customer pays.
    reservation_ttl_s: int = Field(default=900, ge=10, le=86_400)
    # How many units of one variant a cart line may hold, and how many lines a cart may have.
    max_line_quantity: int = Field(default=20, ge=1, le=10_000)
    max_cart_lines: int = Field(default=50, ge=1, le=500)
    # Unpaid orders one customer may hold at once (each holds its stock until it expires).
    max_pending_orders: int = Field(default=3, ge=1, le=1_000)
    # A saga step (create the intent, cancel it, refund it) found waiting longer than this
    # by the resume sweep is deferred again (its job was lost, or its process died).
    saga_stale_after_s: int = Field(default=30, ge=1, le=3_600)
    # Shipping addresses are encrypted with the same field keys as identity's personal
    # fields (default: `<data dir>/keys/field-keys.json`, identity's default).
    field_keys_file: Path | None = None
    # Guest carts untouched this long are forgotten by the cleanup job; empty ones (no
    # line) after this many seconds: anyone may open a guest cart, and one never filled
    # should not sit in the table for a month.
    guest_cart_ttl_days: int = Field(default=30, ge=1, le=365)
    empty_guest_cart_ttl_s: int = Field(default=3_600, ge=60, le=2_592_000)

    @field_validator("payments_url", "payments_public_url")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if url is None:
            return None
        return checked_url(url, schemes=("http", "https"), example="http://host:8001").rstrip("/")

    @property
    def public_payments_url(self) -> str:
        return self.payments_public_url or self.payments_url
