"""The database a process starts on: yours (`DATABASE_URL`, checked reachable and migrated
to this build's schema) or the embedded one (`make run` on a machine without PostgreSQL)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
from pydantic import SecretStr

from mercato.platform.config import (
    Settings,
    normalise_database_url,
    redact_url,
)
from mercato.platform.db import revisions
from mercato.platform.db.database import Database
from mercato.platform.failures import StartupError

if TYPE_CHECKING:
    from mercato.platform.db.embedded import EmbeddedPostgres

EMBEDDED_DATABASE = "mercato"


def embedded_server(settings: Settings) -> EmbeddedPostgres:
    from mercato.platform.db.embedded import EmbeddedPostgres

    return EmbeddedPostgres(Path(settings.data_dir).resolve() / "postgres")


def with_database_url(settings: Settings, url: str) -> Settings:
    normalised = normalise_database_url(url).render_as_string(hide_password=False)
    database = settings.database.model_copy(update={"url": SecretStr(normalised)})
    return settings.model_copy(update={"database": database})


def database_url(settings: Settings) -> str:
    """DATABASE_URL, or the running embedded server's; a StartupError if neither."""
    if settings.database.url is not None:
        return settings.database.url.get_secret_value()
    embedded = embedded_server(settings)
    if embedded.running_port() is None:
        raise StartupError(
            "no database: set DATABASE_URL, or start the embedded one with `mercato db start`"
        )
    return normalise_database_url(embedded.url(EMBEDDED_DATABASE)).render_as_string(False)


def start_embedded_database(settings: Settings) -> tuple[EmbeddedPostgres, str]:
    """Start (initialising on first use) the embedded server and its `mercato` database."""
    embedded = embedded_server(settings)
    admin_url = embedded.start(port=settings.embedded_db_port)
    asyncio.run(_create_database_if_missing(admin_url, EMBEDDED_DATABASE))
    return embedded, embedded.url(EMBEDDED_DATABASE)


async def _create_database_if_missing(admin_url: str, name: str) -> None:
    connection = await asyncpg.connect(admin_url)
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            # Identifiers cannot be bound as parameters; `name` is our constant.
            await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


def check_database(settings: Settings) -> None:
    """Connect and run `SELECT 1` within the connect timeout, or raise StartupError."""
    url = database_url(settings)
    timeout = settings.database.connect_timeout_s

    async def ping() -> None:
        database = Database.from_settings(with_database_url(settings, url).database)
        try:
            await asyncio.wait_for(database.ping(), timeout=timeout + 1)
        finally:
            await database.dispose()

    try:
        asyncio.run(ping())
    except (OSError, TimeoutError, asyncpg.PostgresError) as error:
        raise StartupError(f"database unreachable at {redact_url(url)}: {_reason(error)}") from None
    except Exception as error:  # noqa: BLE001 - SQLAlchemy wraps driver errors
        cause = error.__cause__ or error
        raise StartupError(f"database unreachable at {redact_url(url)}: {_reason(cause)}") from None


def require_migrated(settings: Settings, *, history: revisions.History = revisions.MAIN) -> None:
    """Refuse to start on a schema this build did not migrate (empty, behind, or from a
    newer build): one line saying what to run, instead of a traceback on the first query."""
    url = database_url(settings)
    current = asyncio.run(revisions.current_revision(url, history=history))
    head = revisions.head_revision(history)
    if current == head:
        return
    if current is None:
        state = "empty"
    elif not revisions.is_known_revision(current, history=history):
        raise StartupError(
            f"the database schema is at revision {current}, unknown to this build (migrated "
            "by a newer Mercato?): run the matching version, or start on another database"
        )
    else:
        state = f"at revision {current}"
    raise StartupError(
        f"the database schema is {state}, this build needs {head}: run "
        f"`{history.upgrade_command}` "
        "(`mercato run` migrates by itself)"
    )


def _reason(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "no answer within the connect timeout"
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
