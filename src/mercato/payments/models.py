"""The payments service's tables, in its own schema (`payments`) and its own metadata.

Money is an integer of minor units with its ISO 4217 currency; CHECK constraints hold the
invariants the use cases rely on, so a bug cannot store what the rules forbid:
captured ≤ amount, refunds (pending, unknown or done) ≤ captured, one live intent per
order, one active attempt per intent.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from mercato.payments.states import ACTIVE_ATTEMPTS, AttemptStatus, IntentStatus, RefundStatus
from mercato.platform.db.metadata import NAMING_CONVENTION
from mercato.platform.money import MAX_MINOR_UNITS


class PaymentsBase(DeclarativeBase):
    """The payments service's own metadata: its history migrates it, the main API's
    history never sees it."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _one_of(column: str, values: object) -> str:
    listed = ", ".join(f"'{value}'" for value in values)  # type: ignore[attr-defined]
    return f"{column} IN ({listed})"


_ACTIVE = _one_of("status", sorted(ACTIVE_ATTEMPTS))
_NOW = func.now()


class PaymentIntent(PaymentsBase):
    __tablename__ = "payments_intent"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(32))
    capture_method: Mapped[str] = mapped_column(String(16))
    # The order this pays (the caller's reference); one live intent per order.
    order_reference: Mapped[str] = mapped_column(String(100))
    customer_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    description: Mapped[str | None] = mapped_column(String(500))
    metadata_: Mapped[dict[str, str]] = mapped_column(
        "metadata", JSONB, server_default=text("'{}'::jsonb")
    )
    provider: Mapped[str] = mapped_column(String(32))
    provider_payment_id: Mapped[str | None] = mapped_column(String(255))
    amount_capturable: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    amount_received: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    # Held by refunds that are pending, unknown or done (failed ones give it back).
    amount_refunded: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    last_failure_code: Mapped[str | None] = mapped_column(String(64))
    last_failure_message: Mapped[str | None] = mapped_column(String(500))
    next_action_url: Mapped[str | None] = mapped_column(Text)
    # A capture or cancellation sent to the provider whose answer we have not seen yet.
    capture_requested: Mapped[int | None] = mapped_column(BigInteger)
    cancel_requested_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    cancellation_reason: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_NOW)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_NOW)

    __table_args__ = (
        CheckConstraint(f"amount > 0 AND amount <= {MAX_MINOR_UNITS}", name="amount"),
        CheckConstraint(_one_of("status", [s.value for s in IntentStatus]), name="status"),
        CheckConstraint("capture_method IN ('automatic', 'manual')", name="capture_method"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency"),
        CheckConstraint(
            "amount_capturable >= 0 AND amount_capturable <= amount", name="capturable"
        ),
        CheckConstraint("amount_received >= 0 AND amount_received <= amount", name="received"),
        CheckConstraint(
            "amount_refunded >= 0 AND amount_refunded <= amount_received", name="refunded"
        ),
        Index(
            "uq_payments_intent_live_order",
            "order_reference",
            unique=True,
            postgresql_where=text("status <> 'canceled'"),
        ),
        Index(
            "uq_payments_intent_provider_payment",
            "provider",
            "provider_payment_id",
            unique=True,
            postgresql_where=text("provider_payment_id IS NOT NULL"),
        ),
        Index("ix_payments_intent_created_at_id", "created_at", "id"),
        Index("ix_payments_intent_status_created_at", "status", "created_at"),
    )


class PaymentAttempt(PaymentsBase):
    """One try to pay an intent; its provider idempotency key is stored before the call."""

    __tablename__ = "payments_attempt"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    intent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payments_intent.id"))
    number: Mapped[int] = mapped_column(Integer)
    payment_method: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(32))
    provider_idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    failure_code: Mapped[str | None] = mapped_column(String(64))
    failure_message: Mapped[str | None] = mapped_column(String(500))
    # The reconciler's schedule for attempts whose outcome we do not know yet.
    checks: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    next_check_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_NOW)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_NOW)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint(_one_of("status", [s.value for s in AttemptStatus]), name="status"),
        Index("uq_payments_attempt_intent_number", "intent_id", "number", unique=True),
        # At most one attempt in flight per intent: a second confirm is refused, and an
        # attempt of unknown outcome blocks any new one until it is reconciled.
        Index(
            "uq_payments_attempt_one_active",
            "intent_id",
            unique=True,
            postgresql_where=text(_ACTIVE),
        ),
        Index(
            "ix_payments_attempt_to_check",
            "next_check_at",
            postgresql_where=text("status IN ('pending', 'processing', 'unknown')"),
        ),
    )


class Refund(PaymentsBase):
    __tablename__ = "payments_refund"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    intent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payments_intent.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(String(64))
    provider_refund_id: Mapped[str | None] = mapped_column(String(255))
    provider_idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    failure_code: Mapped[str | None] = mapped_column(String(64))
    checks: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    next_check_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_NOW)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_NOW)

    __table_args__ = (
        CheckConstraint(f"amount > 0 AND amount <= {MAX_MINOR_UNITS}", name="amount"),
        CheckConstraint(_one_of("status", [s.value for s in RefundStatus]), name="status"),
        Index(
            "ix_payments_refund_to_check",
            "next_check_at",
            postgresql_where=text("status IN ('pending', 'unknown')"),
        ),
    )


class ProviderEvent(PaymentsBase):
    """A verified provider webhook, kept (at least the provider's retry horizon) to
    deduplicate redeliveries: its row is inserted in the same transaction as its job."""

    __tablename__ = "payments_provider_event"

    provider: Mapped[str] = mapped_column(String(32), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(100))
    provider_payment_id: Mapped[str | None] = mapped_column(String(255))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    received_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=_NOW, index=True
    )
    processed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str | None] = mapped_column(String(64))


class WebhookEndpoint(PaymentsBase):
    """A merchant's URL for our events, with its signing secret (encrypted at rest)."""

    __tablename__ = "payments_webhook_endpoint"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str | None] = mapped_column(String(500))
    event_types: Mapped[list[str]] = mapped_column(ARRAY(String(100)))
    secret_encrypted: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # The secret before the last rotation: it keeps signing (a second signature) until
    # `previous_secret_expires_at`, so the merchant can switch without a refused delivery.
    previous_secret_encrypted: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    previous_secret_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    enabled: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
    disabled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_NOW)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_NOW)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_payments_webhook_endpoint_created_at_id", "created_at", "id"),)


class WebhookDelivery(PaymentsBase):
    """One event for one endpoint; its id is the `webhook-id` on every retry."""

    __tablename__ = "payments_webhook_delivery"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    endpoint_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payments_webhook_endpoint.id"))
    event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    event_type: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(16), server_default=text("'pending'"))
    # Every attempt, replays included (the log's numbering).
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # Attempts made on the retry schedule (replays do not advance it): the next scheduled
    # job is for step `schedule_step + 1`, and a job for any other step is stale.
    schedule_step: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_NOW)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("status IN ('pending', 'delivered', 'failed', 'abandoned')", name="status"),
        Index("uq_payments_webhook_delivery_event", "endpoint_id", "event_id", unique=True),
        Index("ix_payments_webhook_delivery_endpoint_created", "endpoint_id", "created_at"),
        # The sweep's: pending deliveries whose next attempt is overdue.
        Index(
            "ix_payments_webhook_delivery_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
    )


class WebhookAttempt(PaymentsBase):
    """The delivery log: one row per try, with what the endpoint answered."""

    __tablename__ = "payments_webhook_attempt"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    delivery_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payments_webhook_delivery.id"))
    number: Mapped[int] = mapped_column(Integer)
    # "scheduled" (the retry schedule) or "replay" (asked for by an administrator).
    trigger: Mapped[str] = mapped_column(String(16), server_default=text("'scheduled'"))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_NOW)
    duration_ms: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(500))
    response_excerpt: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint("trigger IN ('scheduled', 'replay')", name="trigger"),
        Index("uq_payments_webhook_attempt_delivery_number", "delivery_id", "number", unique=True),
    )
