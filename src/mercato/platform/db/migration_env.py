"""The Alembic environment every history shares (each `env.py` calls `run` with its
tables): migrations over asyncpg, or over a connection handed in by a test; a service's
own schema created first and put on the `search_path`."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from mercato.platform.config import normalise_database_url
from mercato.platform.db.migrations import SCHEMA_OPTION, is_managed, search_path


def run(metadata: MetaData) -> None:
    """Run the migrations of the history Alembic was configured with, for `metadata`."""
    config = context.config
    schema = config.get_main_option(SCHEMA_OPTION)

    def run_on(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            compare_type=True,
            include_name=is_managed,
            transaction_per_migration=True,
            version_table_schema=schema,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run_online() -> None:
        url = normalise_database_url(config.get_main_option("sqlalchemy.url") or "")
        engine = create_async_engine(url, poolclass=NullPool, connect_args=search_path(schema))
        try:
            async with engine.connect() as connection:
                if schema is not None:
                    # Identifiers cannot be bound; `schema` is a validated name of ours.
                    await connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
                    await connection.commit()
                await connection.run_sync(run_on)
        finally:
            await engine.dispose()

    if context.is_offline_mode():
        context.configure(
            url=config.get_main_option("sqlalchemy.url"),
            target_metadata=metadata,
            literal_binds=True,
            version_table_schema=schema,
        )
        with context.begin_transaction():
            context.run_migrations()
    elif (connection := config.attributes.get("connection")) is not None:
        run_on(connection)
    else:
        asyncio.run(run_online())
