"""Payments: the service's own schema: payment intents, attempts, refunds, provider events,
merchant webhook endpoints, deliveries and their log; and the service's copy of the
platform's tables (outbox, inbox, consumer positions, dead letters, idempotency keys, job
queue).

Revision ID: p0001
Revises:
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from mercato.platform.db import platform_tables

revision: str = "p0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    platform_tables.create_event_tables()
    platform_tables.create_idempotency_tables()
    platform_tables.create_job_tables()
    op.create_table(
        "payments_intent",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("capture_method", sa.String(length=16), nullable=False),
        sa.Column("order_reference", sa.String(length=100), nullable=False),
        sa.Column("customer_id", sa.UUID(), nullable=True),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column(
            "metadata",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("provider_payment_id", sa.String(length=255), nullable=True),
        sa.Column(
            "amount_capturable", sa.BigInteger(), server_default=sa.text("0"), nullable=False
        ),
        sa.Column("amount_received", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("amount_refunded", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_failure_code", sa.String(length=64), nullable=True),
        sa.Column("last_failure_message", sa.String(length=500), nullable=True),
        sa.Column("next_action_url", sa.Text(), nullable=True),
        sa.Column("capture_requested", sa.BigInteger(), nullable=True),
        sa.Column("cancel_requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancellation_reason", sa.String(length=64), nullable=True),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "capture_method IN ('automatic', 'manual')",
            name=op.f("ck_payments_intent_capture_method"),
        ),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_payments_intent_currency")),
        sa.CheckConstraint(
            "status IN ('requires_payment_method', 'requires_confirmation', 'requires_action',"
            " 'processing', 'requires_capture', 'succeeded', 'canceled')",
            name=op.f("ck_payments_intent_status"),
        ),
        sa.CheckConstraint(
            "amount > 0 AND amount <= 1000000000000", name=op.f("ck_payments_intent_amount")
        ),
        sa.CheckConstraint(
            "amount_capturable >= 0 AND amount_capturable <= amount",
            name=op.f("ck_payments_intent_capturable"),
        ),
        sa.CheckConstraint(
            "amount_received >= 0 AND amount_received <= amount",
            name=op.f("ck_payments_intent_received"),
        ),
        sa.CheckConstraint(
            "amount_refunded >= 0 AND amount_refunded <= amount_received",
            name=op.f("ck_payments_intent_refunded"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments_intent")),
    )
    op.create_index(
        "ix_payments_intent_created_at_id", "payments_intent", ["created_at", "id"], unique=False
    )
    op.create_index(
        op.f("ix_payments_intent_customer_id"), "payments_intent", ["customer_id"], unique=False
    )
    op.create_index(
        "ix_payments_intent_status_created_at",
        "payments_intent",
        ["status", "created_at"],
        unique=False,
    )
    op.create_index(
        "uq_payments_intent_live_order",
        "payments_intent",
        ["order_reference"],
        unique=True,
        postgresql_where=sa.text("status <> 'canceled'"),
    )
    op.create_index(
        "uq_payments_intent_provider_payment",
        "payments_intent",
        ["provider", "provider_payment_id"],
        unique=True,
        postgresql_where=sa.text("provider_payment_id IS NOT NULL"),
    )
    op.create_table(
        "payments_provider_event",
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("provider_payment_id", sa.String(length=255), nullable=True),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("provider", "event_id", name=op.f("pk_payments_provider_event")),
    )
    op.create_index(
        op.f("ix_payments_provider_event_received_at"),
        "payments_provider_event",
        ["received_at"],
        unique=False,
    )
    op.create_table(
        "payments_webhook_endpoint",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("event_types", sa.ARRAY(sa.String(length=100)), nullable=False),
        sa.Column("secret_encrypted", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("disabled_reason", sa.String(length=200), nullable=True),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments_webhook_endpoint")),
    )
    op.create_table(
        "payments_attempt",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("intent_id", sa.UUID(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("payment_method", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("provider_idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("failure_code", sa.String(length=64), nullable=True),
        sa.Column("failure_message", sa.String(length=500), nullable=True),
        sa.Column("checks", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_check_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'processing', 'requires_action', 'unknown', 'succeeded',"
            " 'failed', 'canceled')",
            name=op.f("ck_payments_attempt_status"),
        ),
        sa.ForeignKeyConstraint(
            ["intent_id"],
            ["payments_intent.id"],
            name=op.f("fk_payments_attempt_intent_id_payments_intent"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments_attempt")),
        sa.UniqueConstraint(
            "provider_idempotency_key", name=op.f("uq_payments_attempt_provider_idempotency_key")
        ),
    )
    op.create_index(
        "ix_payments_attempt_to_check",
        "payments_attempt",
        ["next_check_at"],
        unique=False,
        postgresql_where=sa.text("status IN ('pending', 'processing', 'unknown')"),
    )
    op.create_index(
        "uq_payments_attempt_intent_number",
        "payments_attempt",
        ["intent_id", "number"],
        unique=True,
    )
    op.create_index(
        "uq_payments_attempt_one_active",
        "payments_attempt",
        ["intent_id"],
        unique=True,
        postgresql_where=sa.text(
            "status IN ('pending', 'processing', 'requires_action', 'unknown')"
        ),
    )
    op.create_table(
        "payments_refund",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("intent_id", sa.UUID(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("provider_refund_id", sa.String(length=255), nullable=True),
        sa.Column("provider_idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("failure_code", sa.String(length=64), nullable=True),
        sa.Column("checks", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_check_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'unknown', 'succeeded', 'failed')",
            name=op.f("ck_payments_refund_status"),
        ),
        sa.CheckConstraint(
            "amount > 0 AND amount <= 1000000000000", name=op.f("ck_payments_refund_amount")
        ),
        sa.ForeignKeyConstraint(
            ["intent_id"],
            ["payments_intent.id"],
            name=op.f("fk_payments_refund_intent_id_payments_intent"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments_refund")),
        sa.UniqueConstraint(
            "provider_idempotency_key", name=op.f("uq_payments_refund_provider_idempotency_key")
        ),
    )
    op.create_index(
        op.f("ix_payments_refund_intent_id"), "payments_refund", ["intent_id"], unique=False
    )
    op.create_index(
        "ix_payments_refund_to_check",
        "payments_refund",
        ["next_check_at"],
        unique=False,
        postgresql_where=sa.text("status IN ('pending', 'unknown')"),
    )
    op.create_table(
        "payments_webhook_delivery",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("endpoint_id", sa.UUID(), nullable=False),
        sa.Column("event_id", sa.UUID(), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "status", sa.String(length=16), server_default=sa.text("'pending'"), nullable=False
        ),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'failed', 'abandoned')",
            name=op.f("ck_payments_webhook_delivery_status"),
        ),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["payments_webhook_endpoint.id"],
            name=op.f("fk_payments_webhook_delivery_endpoint_id_payments_webhook_endpoint"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments_webhook_delivery")),
    )
    op.create_index(
        "ix_payments_webhook_delivery_endpoint_created",
        "payments_webhook_delivery",
        ["endpoint_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "uq_payments_webhook_delivery_event",
        "payments_webhook_delivery",
        ["endpoint_id", "event_id"],
        unique=True,
    )
    op.create_table(
        "payments_webhook_attempt",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("delivery_id", sa.UUID(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column(
            "started_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("response_excerpt", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["payments_webhook_delivery.id"],
            name=op.f("fk_payments_webhook_attempt_delivery_id_payments_webhook_delivery"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments_webhook_attempt")),
    )
    op.create_index(
        op.f("ix_payments_webhook_attempt_delivery_id"),
        "payments_webhook_attempt",
        ["delivery_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_payments_webhook_attempt_delivery_id"), table_name="payments_webhook_attempt"
    )
    op.drop_table("payments_webhook_attempt")
    op.drop_index("uq_payments_webhook_delivery_event", table_name="payments_webhook_delivery")
    op.drop_index(
        "ix_payments_webhook_delivery_endpoint_created", table_name="payments_webhook_delivery"
    )
    op.drop_table("payments_webhook_delivery")
    op.drop_index(
        "ix_payments_refund_to_check",
        table_name="payments_refund",
        postgresql_where=sa.text("status IN ('pending', 'unknown')"),
    )
    op.drop_index(op.f("ix_payments_refund_intent_id"), table_name="payments_refund")
    op.drop_table("payments_refund")
    op.drop_index(
        "uq_payments_attempt_one_active",
        table_name="payments_attempt",
        postgresql_where=sa.text(
            "status IN ('pending', 'processing', 'requires_action', 'unknown')"
        ),
    )
    op.drop_index("uq_payments_attempt_intent_number", table_name="payments_attempt")
    op.drop_index(
        "ix_payments_attempt_to_check",
        table_name="payments_attempt",
        postgresql_where=sa.text("status IN ('pending', 'processing', 'unknown')"),
    )
    op.drop_table("payments_attempt")
    op.drop_table("payments_webhook_endpoint")
    op.drop_index(
        op.f("ix_payments_provider_event_received_at"), table_name="payments_provider_event"
    )
    op.drop_table("payments_provider_event")
    op.drop_index(
        "uq_payments_intent_provider_payment",
        table_name="payments_intent",
        postgresql_where=sa.text("provider_payment_id IS NOT NULL"),
    )
    op.drop_index(
        "uq_payments_intent_live_order",
        table_name="payments_intent",
        postgresql_where=sa.text("status <> 'canceled'"),
    )
    op.drop_index("ix_payments_intent_status_created_at", table_name="payments_intent")
    op.drop_index(op.f("ix_payments_intent_customer_id"), table_name="payments_intent")
    op.drop_index("ix_payments_intent_created_at_id", table_name="payments_intent")
    op.drop_table("payments_intent")
    platform_tables.drop_job_tables()
    platform_tables.drop_idempotency_tables()
    platform_tables.drop_event_tables()
