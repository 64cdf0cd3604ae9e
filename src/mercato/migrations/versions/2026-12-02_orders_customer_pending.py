"""Orders: a partial index of each customer's unpaid orders, for the count every checkout
makes (`max_pending_orders`). Without it the planner combined the customer's index with
the pending-orders index of the expiry job, reading every unpaid order of the shop.

Built concurrently (outside the migration's transaction): orders keep being placed. An
INVALID index left by a failed concurrent build is dropped and built again.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_orders_order_customer_pending"


def upgrade() -> None:
    with op.get_context().autocommit_block():
        # A concurrent build that failed (a canceled deploy, a lost connection) leaves an
        # INVALID index behind, which `if_not_exists` would take for done: drop it first.
        invalid = op.get_bind().scalar(
            sa.text("SELECT NOT indisvalid FROM pg_index WHERE indexrelid = to_regclass(:name)"),
            {"name": INDEX},
        )
        if invalid:
            op.drop_index(
                INDEX, table_name="orders_order", postgresql_concurrently=True, if_exists=True
            )
        op.create_index(
            INDEX,
            "orders_order",
            ["customer_id"],
            postgresql_where=sa.text("status = 'pending_payment'"),
            postgresql_concurrently=True,
            if_not_exists=True,
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index(
            INDEX, table_name="orders_order", postgresql_concurrently=True, if_exists=True
        )
