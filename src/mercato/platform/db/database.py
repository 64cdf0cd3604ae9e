"""Engines and session factories, created in the application lifespan (never at import).

`Database` owns a primary engine and, when `DATABASE_READ_URL` is set, a replica engine for
read-only sessions. Without a replica, read sessions use the primary (read-your-writes).

Read-your-writes with a replica: a request made with a token (`platform/auth.py` calls
`read_own_writes()` once it knows the caller) reads on the primary for the rest of that
request, so a user's own data is never read behind their last write; only anonymous reads
(the public catalog) go to the replica, which may lag by the replication delay.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any, NewType

import asyncpg
import orjson
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.util import greenlet_spawn

from mercato.platform.config import DatabaseSettings, normalise_database_url
from mercato.platform.db.compiled import CompiledQuery, QueryCache

APPLICATION_NAME = "mercato"

# A session on the primary, for use cases that write (the unit of work's).
WriteSession = NewType("WriteSession", AsyncSession)
# A session for reads only: on the replica when one is configured. Code that writes takes
# a `WriteSession`, so handing it a read session is a type error.
ReadSession = NewType("ReadSession", AsyncSession)


# Set for the rest of a request (its task's context) whose caller is known: its reads stay
# on the primary. Anonymous reads may use the replica.
_reads_on_primary: ContextVar[bool] = ContextVar("reads_on_primary", default=False)


def read_own_writes() -> None:
    """This request's reads go to the primary (the caller may just have written)."""
    _reads_on_primary.set(True)


def create_engine(
    url: str,
    settings: DatabaseSettings,
    *,
    read_only: bool = False,
    custom_plans: bool = False,
) -> AsyncEngine:
    """An asyncpg engine with bounded pool and server-side timeouts on every connection;
    `custom_plans`: every statement on its connections is planned for its values
    (`plan_cache_mode`, see `Database.read_rows`)."""
    server_settings = {
        "application_name": APPLICATION_NAME,
        "statement_timeout": str(settings.statement_timeout_ms),
        "lock_timeout": str(settings.lock_timeout_ms),
        "idle_in_transaction_session_timeout": str(settings.idle_in_transaction_timeout_ms),
    }
    if read_only:
        server_settings["default_transaction_read_only"] = "on"
    if custom_plans:
        server_settings["plan_cache_mode"] = "force_custom_plan"
    if settings.schema_name is not None:
        server_settings["search_path"] = settings.schema_name
    return create_async_engine(
        normalise_database_url(url),
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout_s,
        pool_pre_ping=False,
        # Bound values (emails, hashes) stay out of exception messages and therefore logs.
        hide_parameters=True,
        # json/jsonb columns decoded by orjson (product pages aggregate theirs in JSON):
        # the same values as the standard library's, in a fraction of the time.
        json_deserializer=orjson.loads,
        connect_args={"server_settings": server_settings, "timeout": settings.connect_timeout_s},
    )


class CustomPlannedReads:
    """Small pools whose connections plan every statement for its values
    (`plan_cache_mode = force_custom_plan` set when they connect): a custom-planned read
    (`CompiledQuery.custom_plans`) is then one round trip, where setting the mode for it
    alone takes a transaction around it (BEGIN and SET LOCAL, the read, ROLLBACK: three).
    The pools open connections only when such reads come (admin searches), as many as
    they need at once up to the main pools' sizes (smaller pools churned: overflow
    connections closed and opened again under 8 concurrent searches)."""

    def __init__(self, primary: AsyncEngine, replica: AsyncEngine | None = None) -> None:
        self._primary = primary
        self._replica = replica

    @classmethod
    def from_settings(cls, settings: DatabaseSettings) -> CustomPlannedReads:
        assert settings.url is not None

        def engine(url: str, *, read_only: bool) -> AsyncEngine:
            return create_engine(url, settings, read_only=read_only, custom_plans=True)

        primary = engine(settings.url.get_secret_value(), read_only=False)
        replica = (
            engine(settings.read_url.get_secret_value(), read_only=True)
            if settings.read_url is not None
            else None
        )
        return cls(primary, replica)

    def engine(self, *, on_primary: bool) -> AsyncEngine:
        return self._primary if on_primary or self._replica is None else self._replica

    async def dispose(self) -> None:
        await self._primary.dispose()
        if self._replica is not None:
            await self._replica.dispose()


class Database:
    """The process's database handles: the primary and an optional read replica."""

    def __init__(
        self,
        primary: AsyncEngine,
        replica: AsyncEngine | None = None,
        *,
        replica_wait_s: float = 1.0,
        custom_planned: CustomPlannedReads | None = None,
    ) -> None:
        self.primary = primary
        self.replica = replica
        # Without them, a custom-planned read sets the mode in a transaction of its own.
        self._custom_planned = custom_planned
        # How long a commit's listeners wait for the replica to replay it (`replica.py`).
        self.replica_wait_s = replica_wait_s
        self._sessions = async_sessionmaker(primary, expire_on_commit=False, autoflush=False)
        self._read_sessions = (
            async_sessionmaker(replica, expire_on_commit=False, autoflush=False)
            if replica is not None
            else self._sessions
        )
        self._compiled_reads = replica or primary
        self.queries = QueryCache(primary.dialect)

    @classmethod
    def from_settings(cls, settings: DatabaseSettings) -> Database:
        if settings.url is None:
            raise ValueError("DATABASE_URL is not set")
        primary = create_engine(settings.url.get_secret_value(), settings)
        replica = (
            create_engine(settings.read_url.get_secret_value(), settings, read_only=True)
            if settings.read_url is not None
            else None
        )
        return cls(
            primary,
            replica,
            replica_wait_s=settings.replica_wait_ms / 1000,
            custom_planned=CustomPlannedReads.from_settings(settings),
        )

    def session(self) -> WriteSession:
        """A read-write session on the primary."""
        return WriteSession(self._sessions())

    def read_session(self) -> ReadSession:
        """A read-only session on the replica when configured and the caller is anonymous,
        else on the primary."""
        if _reads_on_primary.get():
            return ReadSession(self._sessions())
        return ReadSession(self._read_sessions())

    async def read_rows(self, query: CompiledQuery, values: Mapping[str, Any]) -> list[DriverRow]:
        """The rows of a compiled read (`compiled.py`), on the replica when configured."""
        # The pooled DBAPI connection itself: no Connection object around one statement.
        on_primary = _reads_on_primary.get() or self.replica is None
        planned_by_connection = query.custom_plans and self._custom_planned is not None
        if planned_by_connection:
            assert self._custom_planned is not None
            engine = self._custom_planned.engine(on_primary=on_primary)
        else:
            engine = self.primary if on_primary else self._compiled_reads
        pooled = await engine.raw_connection()
        try:
            return await driver_rows(
                pooled, query, values, planned_by_connection=planned_by_connection
            )
        finally:
            # Back to the pool; its reset-on-return runs through SQLAlchemy's greenlet
            # bridge, as AsyncEngine.raw_connection() took the connection out.
            await greenlet_spawn(pooled.close)

    async def ping(self) -> None:
        """Round-trip `SELECT 1` on the primary; raises when the database is unreachable."""
        async with self.primary.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.primary.dispose()
        if self.replica is not None:
            await self.replica.dispose()
        if self._custom_planned is not None:
            await self._custom_planned.dispose()

    def pool_status(self) -> dict[str, dict[str, int]]:
        """Checked-out, idle and overflow connections per pool, for metrics."""
        pools = {"primary": self.primary}
        if self.replica is not None:
            pools["replica"] = self.replica
        status: dict[str, dict[str, int]] = {}
        for name, engine in pools.items():
            pool: Any = engine.pool
            status[name] = {
                "size": pool.size(),
                "checked_out": pool.checkedout(),
                "idle": pool.checkedin(),
                "overflow": max(pool.overflow(), 0),
            }
        return status


class ConnectionBoundDatabase(Database):
    """A `Database` whose sessions all join one outer connection's transaction.

    Tests use it to run the whole application inside a transaction that is rolled back at
    the end: a use case's `commit()` only releases a savepoint.
    """

    def __init__(self, connection: AsyncConnection) -> None:
        super().__init__(connection.engine)
        self._connection = connection
        self._sessions = async_sessionmaker(
            bind=connection,
            expire_on_commit=False,
            autoflush=False,
            join_transaction_mode="create_savepoint",
        )
        self._read_sessions = self._sessions

    async def read_rows(self, query: CompiledQuery, values: Mapping[str, Any]) -> list[DriverRow]:
        """Inside the outer transaction, like every session of this database."""
        return await driver_rows(await self._connection.get_raw_connection(), query, values)

    async def dispose(self) -> None:
        """The connection belongs to whoever created it."""


# Without `CustomPlannedReads` (a `Database` built on bare engines, a test's connection):
# `SET LOCAL` lasts until the end of the transaction: one is opened around the statement
# (read only, two more round trips), unless the connection is in one already (a test's).
_CUSTOM_PLANS = "SET LOCAL plan_cache_mode = force_custom_plan"


async def _fetch_custom_planned(
    driver: asyncpg.Connection, query: CompiledQuery, values: Mapping[str, Any]
) -> list[asyncpg.Record]:
    records: list[asyncpg.Record]
    if driver.is_in_transaction():
        await driver.execute(_CUSTOM_PLANS)
        records = await driver.fetch(query.sql, *query.arguments(values))
        return records
    await driver.execute(f"BEGIN READ ONLY; {_CUSTOM_PLANS}")
    try:
        records = await driver.fetch(query.sql, *query.arguments(values))
    finally:
        if not driver.is_closed():
            await driver.execute("ROLLBACK")
    return records


# A row of a compiled read: column label → value, as the driver decoded it.
DriverRow = dict[str, Any]


async def transaction_connection(session: AsyncSession) -> PoolProxiedConnection:
    """The pooled connection under `session`'s transaction, that transaction begun on the
    server, for compiled statements sent straight through the driver (`driver_rows`) in it.

    SQLAlchemy's asyncpg adapter sends BEGIN lazily, with the first statement it executes
    itself; a statement sent past it would run outside any transaction (and its COMMIT
    would be a no-op), so the adapter's transaction is started here, the way its own first
    statement would (under its mutex), and it commits or rolls back as usual."""
    connection = await session.connection()
    pooled = await connection.get_raw_connection()
    adapter: Any = pooled.dbapi_connection
    async with adapter._execute_mutex:
        if adapter._transaction is None:
            await adapter._start_transaction()
    return pooled


async def driver_rows(
    pooled: PoolProxiedConnection,
    query: CompiledQuery,
    values: Mapping[str, Any],
    *,
    planned_by_connection: bool = False,
) -> list[DriverRow]:
    """`query` sent on the pooled connection's asyncpg connection: no statement building, no
    compiling, no result objects, and no BEGIN/ROLLBACK around one statement (its snapshot
    is its own; inside an open transaction it runs in that transaction). Driver errors
    come out as `DBAPIError`, as from any SQLAlchemy call (the problem handlers map them:
    503 for timeouts and lost connections), and a broken connection leaves the pool.
    `planned_by_connection`: the connection plans custom already (`CustomPlannedReads`)."""
    driver: asyncpg.Connection = pooled.driver_connection
    try:
        if query.custom_plans and not planned_by_connection:
            records = await _fetch_custom_planned(driver, query, values)
        else:
            records = await driver.fetch(query.sql, *query.arguments(values))
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as error:
        lost = not isinstance(error, asyncpg.PostgresError) or driver.is_closed()
        if lost:
            pooled.invalidate(error)
        raise DBAPIError(
            query.sql, None, error, hide_parameters=True, connection_invalidated=lost
        ) from error
    return [dict(record) for record in records]
