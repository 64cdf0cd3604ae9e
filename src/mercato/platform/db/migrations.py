"""Programmatic Alembic: `mercato migrate`, `mercato run` and the tests apply migrations here.

A service has its own history (`History`): the main API's in `mercato/migrations`, the
payments service's in `mercato/payments/migrations`, in its own schema (its tables and its
`alembic_version` live there, found through the connection's `search_path`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

import mercato.migrations
from mercato.platform.config import normalise_database_url

SCHEMA_OPTION = "mercato.schema"


@dataclass(frozen=True, slots=True)
class History:
    """A migration history: its scripts, the schema it manages (None: public), and the
    command that upgrades it (what a refusal to start tells the operator to run)."""

    location: Path
    schema: str | None = None
    upgrade_command: str = "mercato migrate up"


MAIN = History(Path(mercato.migrations.__file__).parent)

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


def head_revision(history: History = MAIN) -> str | None:
    return ScriptDirectory(str(history.location)).get_current_head()


def is_known_revision(revision: str, *, history: History = MAIN) -> bool:
    """Whether `revision` is one of this build's (a database migrated by a newer build
    is at a revision this one has never heard of)."""
    scripts = ScriptDirectory(str(history.location))
    return any(script.revision == revision for script in scripts.walk_revisions())


async def current_revision(database_url: str, *, history: History = MAIN) -> str | None:
    """The revision the database is at (None for an empty database)."""
    engine = create_async_engine(
        normalise_database_url(database_url),
        poolclass=NullPool,
        connect_args=search_path(history.schema),
    )
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(
                lambda sync: MigrationContext.configure(
                    sync, opts={"version_table_schema": history.schema}
                ).get_current_revision()
            )
    finally:
        await engine.dispose()


def search_path(schema: str | None) -> dict[str, dict[str, str]]:
    """asyncpg connect arguments that put a service's schema first (none for public)."""
    return {"server_settings": {"search_path": schema}} if schema is not None else {}
