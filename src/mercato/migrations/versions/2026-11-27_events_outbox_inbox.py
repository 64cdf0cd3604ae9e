"""Events: the transactional outbox (also the PostgreSQL event log), inbox, consumer
positions and dead letters.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from mercato.platform.db import platform_tables

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    platform_tables.create_event_tables()


def downgrade() -> None:
    platform_tables.drop_event_tables()
