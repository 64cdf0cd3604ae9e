"""Tables of the event machinery (owned by the platform, prefixed `platform_`)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import BigInteger, DateTime, Identity, Index, Integer, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from mercato.platform.db.metadata import Base


class OutboxMessage(Base):
    """An event written in the same transaction as the change it describes.

    `seq` orders the events of one aggregate (its writers hold the aggregate's row lock, so
    they commit in `seq` order). `log_position` is given by the relay when the PostgreSQL
    transport publishes, under a lock, in commit order: consumers read by position.
    """

    __tablename__ = "platform_outbox"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    aggregate_type: Mapped[str] = mapped_column(String(100))
    aggregate_id: Mapped[str] = mapped_column(String(200))
    envelope: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    log_position: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index(
            "ix_platform_outbox_unpublished",
            "seq",
            postgresql_where=text("published_at IS NULL"),
        ),
        Index(
            "ix_platform_outbox_unpublished_aggregate",
            "aggregate_type",
            "aggregate_id",
            "seq",
            postgresql_where=text("published_at IS NULL"),
        ),
        Index("ix_platform_outbox_published_at", "published_at"),
    )


class InboxEntry(Base):
    """An event a consumer has applied; written in the same transaction as the effect."""

    __tablename__ = "platform_inbox"

    consumer: Mapped[str] = mapped_column(String(200), primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    processed_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )


class ConsumerPosition(Base):
    """Where a consumer group is in the PostgreSQL event log, and its head-of-line retry."""

    __tablename__ = "platform_consumer_position"

    consumer: Mapped[str] = mapped_column(String(200), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    failed_attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    retry_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class DeadLetter(Base):
    """An event a consumer gave up on after its retries; kept for inspection and replay."""

    __tablename__ = "platform_dead_letter"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    consumer: Mapped[str] = mapped_column(String(200), index=True)
    event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    envelope: Mapped[dict[str, Any]] = mapped_column(JSONB)
    attempts: Mapped[int] = mapped_column(Integer)
    error: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
