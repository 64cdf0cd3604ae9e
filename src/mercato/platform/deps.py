"""FastAPI dependencies shared by every context, as `Annotated` aliases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request

from mercato.platform.config import Settings
from mercato.platform.db.database import Database
from mercato.platform.db.uow import UnitOfWork

# Dependencies are `async def` even when they do not await: FastAPI runs a plain `def`
# dependency in a worker thread, a hop that costs more than the lookup itself.


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


async def get_unit_of_work(request: Request) -> AsyncIterator[UnitOfWork]:
    """A fresh unit of work per request; the use case enters it and commits."""
    listeners = getattr(request.app.state, "commit_listeners", ())
    database: Database = request.app.state.database
    yield UnitOfWork(database, commit_listeners=listeners)


SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]
UnitOfWorkDep = Annotated[UnitOfWork, Depends(get_unit_of_work)]
