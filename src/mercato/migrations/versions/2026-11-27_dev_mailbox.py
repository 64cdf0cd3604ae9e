"""Mail: the development mailbox (mail "sent" without SMTP, read at GET /dev/mailbox).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "platform_dev_mailbox",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_platform_dev_mailbox")),
    )
    op.create_index(
        op.f("ix_platform_dev_mailbox_recipient"),
        "platform_dev_mailbox",
        ["recipient"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_platform_dev_mailbox_recipient"), table_name="platform_dev_mailbox")
    op.drop_table("platform_dev_mailbox")
