"""Orders reporting: when each materialized view was last refreshed (`orders_view_refresh`,
one row per view, written by the refresh in its own transaction), for the sales report's
`refreshed_at`.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "orders_view_refresh",
        sa.Column("view_name", sa.String(length=63), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("view_name", name=op.f("pk_orders_view_refresh")),
    )


def downgrade() -> None:
    op.drop_table("orders_view_refresh")
