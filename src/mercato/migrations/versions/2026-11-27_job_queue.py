"""Jobs: procrastinate's schema (version 3.10.0), vendored so that this revision never
changes when the package is upgraded; an upgrade of procrastinate comes with a new revision
applying its migration scripts.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from mercato.platform.db import platform_tables

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    platform_tables.create_job_tables()


def downgrade() -> None:
    platform_tables.drop_job_tables()
