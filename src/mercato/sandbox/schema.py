"""The sandbox's tables, in their own PostgreSQL schema `sandbox`, created at start-up.

Why not an Alembic migration: the sandbox stands in for an external system (a card
processor's own database), so its tables are no part of Mercato's schema history and must
never be migrated, rolled back or dumped with it. It creates what it needs with
`CREATE … IF NOT EXISTS` under an advisory lock (two sandbox processes starting together
would otherwise race on the catalog), and a sandbox database can simply be dropped.

Checks hold the money rules a second time, after the compare-and-set updates: amounts are
positive integers of minor units, Σ refunds ≤ captured ≤ amount, capturable ≤ amount.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.schema import CreateIndex, CreateSchema, CreateTable

from mercato.platform.db.metadata import NAMING_CONVENTION

SCHEMA = "sandbox"
# pg_advisory_xact_lock key for the start-up DDL ("sandbox" in ASCII, as an integer).
_DDL_LOCK_KEY = 0x73616E64626F78

metadata = MetaData(schema=SCHEMA, naming_convention=NAMING_CONVENTION)


def _created_at() -> Column[object]:
    return Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now())


payment_method = Table(
    "payment_method",
    metadata,
    Column("id", Text, primary_key=True),
    Column("brand", Text, nullable=False),
    Column("last4", Text, nullable=False),
    Column("exp_month", SmallInteger, nullable=False),
    Column("exp_year", SmallInteger, nullable=False),
    Column("behaviour", Text, nullable=False),  # what the test card does; never the number
    _created_at(),
    CheckConstraint("length(last4) = 4", name="last4_only"),
)

payment_intent = Table(
    "payment_intent",
    metadata,
    Column("id", Text, primary_key=True),
    Column("reference", Text, nullable=False, index=True),
    Column("amount", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("capture_method", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("amount_capturable", BigInteger, nullable=False, server_default="0"),
    Column("amount_received", BigInteger, nullable=False, server_default="0"),
    Column("amount_refunded", BigInteger, nullable=False, server_default="0"),
    Column("payment_method", Text),
    Column("last_payment_error", JSONB(none_as_null=True)),
    Column("action_token", Text, unique=True),
    Column("return_url", Text),
    Column("metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    # When an asynchronous (processing) payment settles, by the background loop.
    Column("settles_at", DateTime(timezone=True)),
    _created_at(),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("amount > 0", name="amount_positive"),
    CheckConstraint("amount_capturable BETWEEN 0 AND amount", name="capturable_within_amount"),
    CheckConstraint("amount_received BETWEEN 0 AND amount", name="received_within_amount"),
    CheckConstraint(
        "amount_refunded BETWEEN 0 AND amount_received", name="refunds_within_received"
    ),
    CheckConstraint(
        "status IN ('requires_payment_method', 'requires_confirmation', 'requires_action',"
        " 'processing', 'requires_capture', 'succeeded', 'canceled')",
        name="known_status",
    ),
    CheckConstraint("capture_method IN ('automatic', 'manual')", name="known_capture_method"),
)
Index(
    "ix_payment_intent_settles_at",
    payment_intent.c.settles_at,
    postgresql_where=payment_intent.c.status == "processing",
)

refund = Table(
    "refund",
    metadata,
    Column("id", Text, primary_key=True),
    Column("payment_intent", Text, ForeignKey(payment_intent.c.id), nullable=False, index=True),
    Column("amount", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("status", Text, nullable=False),
    _created_at(),
    CheckConstraint("amount > 0", name="amount_positive"),
)

idempotency_key = Table(
    "idempotency_key",
    metadata,
    Column("scope", Text, nullable=False),  # a digest of the API key, never the key
    Column("key", Text, nullable=False),
    Column("fingerprint", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("response_status", Integer),
    Column("response_body", LargeBinary),
    # The stored answer is replayed from this moment on; before it, the key is in flight.
    Column("replay_from", DateTime(timezone=True)),
    PrimaryKeyConstraint("scope", "key"),
    Index("ix_idempotency_key_created_at", "created_at"),
)

webhook_delivery = Table(
    "webhook_delivery",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("event_id", Text, nullable=False, index=True),
    Column("event_type", Text, nullable=False),
    Column("payload", LargeBinary, nullable=False),  # the exact bytes signed on every try
    _created_at(),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("delivered_at", DateTime(timezone=True)),
    Column("failed_at", DateTime(timezone=True)),  # given up after the last attempt
    Column("last_status", Integer),
    Column("last_error", Text),
)
Index(
    "ix_webhook_delivery_due",
    webhook_delivery.c.next_attempt_at,
    postgresql_where=webhook_delivery.c.delivered_at.is_(None)
    & webhook_delivery.c.failed_at.is_(None),
)

ledger_entry = Table(
    "ledger_entry",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("kind", Text, nullable=False),
    Column("payment_intent", Text, nullable=False),
    Column("reference", Text, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    _created_at(),
    CheckConstraint("kind IN ('charge', 'capture', 'refund')", name="known_kind"),
    CheckConstraint("amount > 0", name="amount_positive"),
)

# What the provider really moved, per currency, kind and merchant reference.
LEDGER_VIEW = "ledger"
_CREATE_LEDGER_VIEW = f"""
CREATE OR REPLACE VIEW {SCHEMA}.{LEDGER_VIEW} AS
SELECT currency, kind, reference, count(*) AS count, sum(amount) AS amount
FROM {SCHEMA}.ledger_entry
GROUP BY currency, kind, reference
"""  # noqa: S608 - constants only


async def create_schema(engine: AsyncEngine) -> None:
    """Create the schema, tables, indexes and the ledger view if they do not exist."""
    async with engine.begin() as connection:
        await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _DDL_LOCK_KEY})
        await connection.execute(CreateSchema(SCHEMA, if_not_exists=True))
        for table in metadata.sorted_tables:
            await connection.execute(CreateTable(table, if_not_exists=True))
            for index in sorted(table.indexes, key=lambda index: str(index.name)):
                await connection.execute(CreateIndex(index, if_not_exists=True))
        await connection.execute(text(_CREATE_LEDGER_VIEW))
