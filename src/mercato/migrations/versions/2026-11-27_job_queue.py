"""Jobs: procrastinate's schema (version 3.10.0), vendored so that this revision never
changes when the package is upgraded; an upgrade of procrastinate comes with a new revision
applying its migration scripts.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

import re
from collections.abc import Sequence
from pathlib import Path

from alembic import op
from sqlalchemy.util import await_only

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = Path(__file__).parents[1] / "sql" / "procrastinate-3.10.0.sql"


def _run_script(sql: str) -> None:
    # A multi-statement script with $$-quoted bodies: sent as is (simple query protocol).
    driver_connection = op.get_bind().connection.driver_connection
    assert driver_connection is not None
    await_only(driver_connection.execute(sql))


def upgrade() -> None:
    _run_script(SCHEMA.read_text())


def downgrade() -> None:
    sql = SCHEMA.read_text()
    tables = re.findall(r"^CREATE TABLE (\w+)", sql, re.MULTILINE)
    functions = re.findall(r"^CREATE FUNCTION (\w+)\(", sql, re.MULTILINE)
    types = re.findall(r"^CREATE TYPE (\w+)", sql, re.MULTILINE)
    statements = [f"DROP TABLE IF EXISTS {', '.join(reversed(tables))} CASCADE;"]
    statements += [f"DROP FUNCTION IF EXISTS {name} CASCADE;" for name in functions]
    statements += [f"DROP TYPE IF EXISTS {name} CASCADE;" for name in types]
    _run_script("\n".join(statements))
