"""The platform's own tables, as migration steps every service's history applies.

The main API's history and the payments service's (its own schema) both carry the event
machinery (outbox, inbox, consumer positions, dead letters), idempotency keys and the job
queue: a service owns its copy, in its schema. Each function is a step of a revision;
changing these tables means a new function here and a new revision in each history.
"""

from __future__ import annotations

import re
from pathlib import Path

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql
from sqlalchemy.util import await_only

PROCRASTINATE_SCHEMA = Path(__file__).parent / "sql" / "procrastinate-3.10.0.sql"


def create_event_tables() -> None:
    """The outbox (also the PostgreSQL event log), inbox, consumer positions, dead letters."""
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


def drop_event_tables() -> None:
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


def create_idempotency_tables() -> None:
    """Idempotency keys of creating requests (scoped to the caller, 24 hours)."""
    op.create_table(
        "platform_idempotency_key",
        sa.Column("scope", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.LargeBinary(length=32), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_headers", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("response_body", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("scope", "key", name=op.f("pk_platform_idempotency_key")),
    )
    op.create_index(
        op.f("ix_platform_idempotency_key_created_at"),
        "platform_idempotency_key",
        ["created_at"],
        unique=False,
    )


def drop_idempotency_tables() -> None:
    op.drop_index(
        op.f("ix_platform_idempotency_key_created_at"), table_name="platform_idempotency_key"
    )
    op.drop_table("platform_idempotency_key")


def _run_script(sql: str) -> None:
    # A multi-statement script with $$-quoted bodies: sent as is (simple query protocol).
    driver_connection = op.get_bind().connection.driver_connection
    assert driver_connection is not None
    await_only(driver_connection.execute(sql))


def create_job_tables() -> None:
    """procrastinate's schema (3.10.0), vendored so that a revision never changes when the
    package is upgraded; an upgrade of procrastinate comes with a new revision."""
    _run_script(PROCRASTINATE_SCHEMA.read_text())


def drop_job_tables() -> None:
    sql = PROCRASTINATE_SCHEMA.read_text()
    tables = re.findall(r"^CREATE TABLE (\w+)", sql, re.MULTILINE)
    functions = re.findall(r"^CREATE FUNCTION (\w+)\(", sql, re.MULTILINE)
    types = re.findall(r"^CREATE TYPE (\w+)", sql, re.MULTILINE)
    statements = [f"DROP TABLE IF EXISTS {', '.join(reversed(tables))} CASCADE;"]
    statements += [f"DROP FUNCTION IF EXISTS {name} CASCADE;" for name in functions]
    statements += [f"DROP TYPE IF EXISTS {name} CASCADE;" for name in types]
    _run_script("\n".join(statements))
