"""The unit of work commits exactly once and rolls back everything else."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from mercato.platform.config import Settings
from mercato.platform.db.database import ConnectionBoundDatabase, Database
from mercato.platform.db.uow import UnitOfWork, UnitOfWorkError


@pytest.fixture
async def probe(connection: AsyncConnection) -> AsyncConnection:
    await connection.execute(text("CREATE TEMP TABLE uow_probe (value int NOT NULL)"))
    return connection


async def values(connection: AsyncConnection) -> list[int]:
    rows = await connection.execute(text("SELECT value FROM uow_probe ORDER BY value"))
    return [row.value for row in rows]


async def insert(uow: UnitOfWork, value: int) -> None:
    await uow.session.execute(text("INSERT INTO uow_probe VALUES (:v)"), {"v": value})


async def test_commit_persists(probe: AsyncConnection, database: ConnectionBoundDatabase) -> None:
    async with UnitOfWork(database) as uow:
        await insert(uow, 1)
        await uow.commit()
    assert await values(probe) == [1]


async def test_leaving_without_commit_rolls_back(
    probe: AsyncConnection, database: ConnectionBoundDatabase
) -> None:
    async with UnitOfWork(database) as uow:
        await insert(uow, 2)
    assert await values(probe) == []


async def test_an_exception_rolls_back_the_whole_use_case(
    probe: AsyncConnection, database: ConnectionBoundDatabase
) -> None:
    async def use_case_that_fails_half_way() -> None:
        async with UnitOfWork(database) as uow:
            await insert(uow, 3)
            await insert(uow, 4)
            raise LookupError("the third step failed")

    with pytest.raises(LookupError):
        await use_case_that_fails_half_way()
    assert await values(probe) == []


async def test_a_second_commit_is_refused(
    probe: AsyncConnection, database: ConnectionBoundDatabase
) -> None:
    async with UnitOfWork(database) as uow:
        await insert(uow, 5)
        await uow.commit()
        with pytest.raises(UnitOfWorkError, match="exactly once"):
            await uow.commit()
    assert await values(probe) == [5]


async def test_the_session_exists_only_inside_the_block(database: ConnectionBoundDatabase) -> None:
    uow = UnitOfWork(database)
    with pytest.raises(UnitOfWorkError):
        _ = uow.session
    async with uow:
        pass
    with pytest.raises(UnitOfWorkError):
        _ = uow.session


# --- compiled statements sent through the driver (`UnitOfWork.fetch`) ---------------------
# On a database of its own (not a test's outer transaction): the unit of work's transaction
# must really be open on the server before the first statement passes SQLAlchemy by.

_PROBE_TABLE = "uow_driver_probe"


@pytest.fixture
async def driver_database(settings: Settings) -> AsyncIterator[Database]:
    database = Database.from_settings(settings.database)
    async with database.primary.begin() as connection:
        await connection.execute(text(f"CREATE TABLE IF NOT EXISTS {_PROBE_TABLE} (value int)"))
        await connection.execute(text(f"TRUNCATE {_PROBE_TABLE}"))
    try:
        yield database
    finally:
        async with database.primary.begin() as connection:
            await connection.execute(text(f"DROP TABLE {_PROBE_TABLE}"))
        await database.dispose()


async def _send(uow: UnitOfWork, value: int) -> None:
    query = uow.queries.get(
        "test.uow.driver_insert",
        lambda: text(f"INSERT INTO {_PROBE_TABLE} VALUES (:v) RETURNING value"),
    )
    assert await uow.fetch(query, {"v": value}) == [{"value": value}]


async def _stored(database: Database) -> list[int]:
    async with database.session() as session:
        rows = await session.execute(text(f"SELECT value FROM {_PROBE_TABLE} ORDER BY value"))
        return [row.value for row in rows]


async def test_statements_through_the_driver_commit_with_the_unit_of_work(
    driver_database: Database,
) -> None:
    async with UnitOfWork(driver_database) as uow:
        await _send(uow, 1)
        await uow.session.execute(text(f"INSERT INTO {_PROBE_TABLE} VALUES (2)"))
        await _send(uow, 3)
        await uow.commit()
    assert await _stored(driver_database) == [1, 2, 3]


async def test_statements_through_the_driver_roll_back_with_the_unit_of_work(
    driver_database: Database,
) -> None:
    async def use_case_that_fails_half_way() -> None:
        async with UnitOfWork(driver_database) as uow:
            await _send(uow, 4)
            await uow.session.execute(text(f"INSERT INTO {_PROBE_TABLE} VALUES (5)"))
            raise LookupError("a later step failed")

    with pytest.raises(LookupError):
        await use_case_that_fails_half_way()
    async with UnitOfWork(driver_database) as uow:
        await _send(uow, 6)  # the first statement of its transaction
    assert await _stored(driver_database) == []
