"""Probe routes mounted only in tests, to drive the platform's error paths."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Integer, bindparam, select, text

from mercato.platform.db.database import Database
from mercato.platform.deps import DatabaseDep
from mercato.platform.errors import NotFound

router = APIRouter(prefix="/test", tags=["test"])


class EchoIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=20)
    quantity: int = Field(ge=1)
    password: str | None = None


class EchoOut(BaseModel):
    name: str
    quantity: int


@router.post("/echo", status_code=201, response_model=EchoOut)
async def echo(body: EchoIn) -> EchoOut:
    return EchoOut(name=body.name, quantity=body.quantity)


@router.get("/items/{item_id}")
async def item(item_id: Annotated[int, Path(ge=1)]) -> dict[str, int]:
    if item_id > 100:
        raise NotFound(f"There is no item {item_id}.")
    return {"id": item_id}


class SecretFailure(RuntimeError):
    pass


@router.get("/boom")
async def boom() -> None:
    raise SecretFailure("db password is hunter2 at /srv/app/secret.py line 42")


@router.get("/slow-query")
async def slow_query(database: DatabaseDep) -> None:
    await _sleep_in_database(database, seconds=5)


async def _sleep_in_database(database: Database, *, seconds: float) -> None:
    async with database.session() as session:
        await session.execute(text("SELECT pg_sleep(:seconds)"), {"seconds": seconds})


# Statements PostgreSQL refuses with a data exception (SQLSTATE class 22), values bound.
DATA_ERRORS: dict[str, tuple[str, dict[str, Any]]] = {
    "nul": ("SELECT CAST(:value AS text)", {"value": "secret\x00value"}),
    "overflow": ("SELECT CAST(:value AS integer) + 1", {"value": 2**31 - 1}),
    "json": ("SELECT CAST(:value AS jsonb)", {"value": '{"secret": NaN}'}),
    "int32-parameter": ("SELECT CAST(:value AS integer)", {"value": 2**40}),
}


@router.get("/data-error/{kind}")
async def data_error(kind: str, database: DatabaseDep) -> None:
    statement, values = DATA_ERRORS[kind]
    async with database.session() as session:
        await session.execute(text(statement), values)


@router.get("/data-error-compiled")
async def data_error_compiled(database: DatabaseDep) -> None:
    """A compiled read (`Database.read_rows`) binding a 64-bit value as a 32-bit one."""
    query = database.queries.get(
        ("probe", "int32"), lambda: select(bindparam("value", type_=Integer()))
    )
    await database.read_rows(query, {"value": 2**40})
