"""Platform: idempotency keys of creating requests (scoped to the caller, 24 hours).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from mercato.platform.db import platform_tables

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    platform_tables.create_idempotency_tables()


def downgrade() -> None:
    platform_tables.drop_idempotency_tables()
