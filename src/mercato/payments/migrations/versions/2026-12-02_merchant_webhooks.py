"""Merchant webhooks out: the previous signing secret during a rotation, the retry
schedule's step per delivery, an index for the overdue sweep, and the attempt log's
trigger (scheduled or replay), numbered once per delivery.

Revision ID: p0002
Revises: p0001
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "p0002"
down_revision: str | None = "p0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "payments_webhook_endpoint",
        sa.Column(
            "previous_secret_encrypted", postgresql.JSONB(astext_type=sa.Text()), nullable=True
        ),
    )
    op.add_column(
        "payments_webhook_endpoint",
        sa.Column("previous_secret_expires_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index(
        "ix_payments_webhook_endpoint_created_at_id",
        "payments_webhook_endpoint",
        ["created_at", "id"],
    )
    op.add_column(
        "payments_webhook_delivery",
        sa.Column("schedule_step", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.create_index(
        "ix_payments_webhook_delivery_due",
        "payments_webhook_delivery",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.add_column(
        "payments_webhook_attempt",
        sa.Column(
            "trigger", sa.String(length=16), server_default=sa.text("'scheduled'"), nullable=False
        ),
    )
    op.create_check_constraint(
        op.f("ck_payments_webhook_attempt_trigger"),
        "payments_webhook_attempt",
        "trigger IN ('scheduled', 'replay')",
    )
    op.drop_index(
        op.f("ix_payments_webhook_attempt_delivery_id"), table_name="payments_webhook_attempt"
    )
    op.create_index(
        "uq_payments_webhook_attempt_delivery_number",
        "payments_webhook_attempt",
        ["delivery_id", "number"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index(
        "uq_payments_webhook_attempt_delivery_number", table_name="payments_webhook_attempt"
    )
    op.create_index(
        op.f("ix_payments_webhook_attempt_delivery_id"),
        "payments_webhook_attempt",
        ["delivery_id"],
    )
    op.drop_constraint(
        op.f("ck_payments_webhook_attempt_trigger"), "payments_webhook_attempt", type_="check"
    )
    op.drop_column("payments_webhook_attempt", "trigger")
    op.drop_index("ix_payments_webhook_delivery_due", table_name="payments_webhook_delivery")
    op.drop_column("payments_webhook_delivery", "schedule_step")
    op.drop_index(
        "ix_payments_webhook_endpoint_created_at_id", table_name="payments_webhook_endpoint"
    )
    op.drop_column("payments_webhook_endpoint", "previous_secret_expires_at")
    op.drop_column("payments_webhook_endpoint", "previous_secret_encrypted")
