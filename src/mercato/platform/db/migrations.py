"""Programmatic Alembic: `mercato migrate`, `mercato run` and the tests apply migrations here.

A service has its own history (`History`): the main API's in `mercato/migrations`, the
payments service's in `mercato/payments/migrations`, in its own schema (its tables and its
`alembic_version` live there, found through the connection's `search_path`).
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from mercato.platform.db.revisions import (
    MAIN,
    History,
    current_revision,
    head_revision,
    is_known_revision,
    search_path,
)

# The histories and the database's revision are read without Alembic (`revisions.py`: a
# server checks them at start-up and should not carry Alembic for it); re-exported here.
__all__ = [
    "MAIN",
    "History",
    "current_revision",
    "downgrade",
    "head_revision",
    "is_known_revision",
    "search_path",
    "upgrade",
]

SCHEMA_OPTION = "mercato.schema"

# Tables created by vendored SQL (procrastinate's schema), not by our models: autogenerate
# and the schema-drift test leave them alone.
UNMANAGED_TABLE_PREFIXES = ("procrastinate_",)


def is_managed(name: str | None, type_: str, *_: object) -> bool:
    """Alembic `include_name` hook: skip objects owned by vendored schemas."""
    return not (type_ == "table" and name is not None and name.startswith(UNMANAGED_TABLE_PREFIXES))


def alembic_config(database_url: str, history: History = MAIN) -> Config:
    config = Config()
    config.set_main_option("script_location", str(history.location))
    config.set_main_option("file_template", "%%(year)d-%%(month).2d-%%(day).2d_%%(slug)s")
    # Alembic's ini interpolation treats % specially; a password may contain one.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    if history.schema is not None:
        config.set_main_option(SCHEMA_OPTION, history.schema)
    return config


def upgrade(database_url: str, revision: str = "head", *, history: History = MAIN) -> None:
    command.upgrade(alembic_config(database_url, history), revision)


def downgrade(database_url: str, revision: str, *, history: History = MAIN) -> None:
    command.downgrade(alembic_config(database_url, history), revision)
