"""Mail: the development mailbox stores each mail once per effect id (a job run again
after a crash does not deliver a second copy).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "platform_dev_mailbox",
        sa.Column("effect_id", postgresql.UUID(as_uuid=True), nullable=True),
    )
    # Mail delivered before effect ids existed: each was its own effect.
    op.execute("UPDATE platform_dev_mailbox SET effect_id = gen_random_uuid()")
    op.alter_column("platform_dev_mailbox", "effect_id", nullable=False)
    op.create_unique_constraint(
        op.f("uq_platform_dev_mailbox_effect_id"), "platform_dev_mailbox", ["effect_id"]
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("uq_platform_dev_mailbox_effect_id"), "platform_dev_mailbox", type_="unique"
    )
    op.drop_column("platform_dev_mailbox", "effect_id")
