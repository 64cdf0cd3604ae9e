"""The unit of work commits exactly once and rolls back everything else."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from mercato.platform.db.database import ConnectionBoundDatabase
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
