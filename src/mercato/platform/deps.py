"""FastAPI dependencies shared by every context, as `Annotated` aliases.

The process's `Runtime` (built in the lifespan) is the one object on `app.state`; each
context adds one dependency for its own services (`IdentityDep`, `CatalogDep`, ...).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.types import Scope

from mercato.platform.config import Settings
from mercato.platform.db.database import Database
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.runtime import Runtime

# Dependencies are `async def` even when they do not await: FastAPI runs a plain `def`
# dependency in a worker thread, a hop that costs more than the lookup itself.


def runtime_of(scope: Scope) -> Runtime:
    """The runtime of the application serving `scope` (set by its lifespan)."""
    runtime: Runtime = scope["app"].state.runtime
    return runtime


async def get_runtime(request: Request) -> Runtime:
    return runtime_of(request.scope)


async def get_settings(request: Request) -> Settings:
    return runtime_of(request.scope).settings


async def get_database(request: Request) -> Database:
    return runtime_of(request.scope).database


async def get_unit_of_work(request: Request) -> UnitOfWork:
    """A fresh unit of work per request; the use case enters it and commits."""
    return runtime_of(request.scope).unit_of_work()


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]
UnitOfWorkDep = Annotated[UnitOfWork, Depends(get_unit_of_work)]
