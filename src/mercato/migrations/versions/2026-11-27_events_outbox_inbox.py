"""Events: the transactional outbox (also the PostgreSQL event log), inbox, consumer
positions and dead letters.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "platform_consumer_position",
        sa.Column("consumer", sa.String(length=200), nullable=False),
        sa.Column("position", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("consumer", name=op.f("pk_platform_consumer_position")),
    )
    op.create_table(
        "platform_dead_letter",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("consumer", sa.String(length=200), nullable=False),
        sa.Column("event_id", sa.UUID(), nullable=False),
        sa.Column("envelope", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_platform_dead_letter")),
    )
    op.create_index(
        op.f("ix_platform_dead_letter_consumer"), "platform_dead_letter", ["consumer"], unique=False
    )
    op.create_table(
        "platform_inbox",
        sa.Column("consumer", sa.String(length=200), nullable=False),
        sa.Column("event_id", sa.UUID(), nullable=False),
        sa.Column(
            "processed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("consumer", "event_id", name=op.f("pk_platform_inbox")),
    )
    op.create_index(
        op.f("ix_platform_inbox_processed_at"), "platform_inbox", ["processed_at"], unique=False
    )
    op.create_table(
        "platform_outbox",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("aggregate_type", sa.String(length=100), nullable=False),
        sa.Column("aggregate_id", sa.String(length=200), nullable=False),
        sa.Column("envelope", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("log_position", sa.BigInteger(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_platform_outbox")),
        sa.UniqueConstraint("log_position", name=op.f("uq_platform_outbox_log_position")),
        sa.UniqueConstraint("seq", name=op.f("uq_platform_outbox_seq")),
    )
    op.create_index(
        "ix_platform_outbox_published_at", "platform_outbox", ["published_at"], unique=False
    )
    op.create_index(
        "ix_platform_outbox_unpublished",
        "platform_outbox",
        ["seq"],
        unique=False,
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.create_index(
        "ix_platform_outbox_unpublished_aggregate",
        "platform_outbox",
        ["aggregate_type", "aggregate_id", "seq"],
        unique=False,
        postgresql_where=sa.text("published_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_platform_outbox_unpublished_aggregate",
        table_name="platform_outbox",
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.drop_index(
        "ix_platform_outbox_unpublished",
        table_name="platform_outbox",
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.drop_index("ix_platform_outbox_published_at", table_name="platform_outbox")
    op.drop_table("platform_outbox")
    op.drop_index(op.f("ix_platform_inbox_processed_at"), table_name="platform_inbox")
    op.drop_table("platform_inbox")
    op.drop_index(op.f("ix_platform_dead_letter_consumer"), table_name="platform_dead_letter")
    op.drop_table("platform_dead_letter")
    op.drop_table("platform_consumer_position")
