"""The Python ceiling for the catalog benchmark: Starlette + asyncpg + orjson, no ORM, no
validation, no middleware. `/list` runs the same SQL as Mercato's cache-miss list (the
statement text is handed over in BASELINE_LIST_SQL: `$1` = min_price, and the LIMIT
written in, as Mercato does); `/product/{id}` runs the product page statement
(BASELINE_PAGE_SQL: `$1` = the currency, `$2` = the id), its jsonb decoded by orjson as
Mercato's engine decodes it, and encodes the row with orjson; `/cached` returns the bytes
stored at BASELINE_CACHED_KEY in Redis, as Mercato's cache hit does."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import orjson
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

state: dict[str, Any] = {}


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    state["pool"] = await asyncpg.create_pool(
        os.environ["BASELINE_DSN"], min_size=4, max_size=10, init=_json_codecs
    )
    state["redis"] = Redis.from_url(os.environ["REDIS_URL"])
    try:
        yield
    finally:
        await state["pool"].close()
        await state["redis"].aclose()


async def listing(request: Request) -> Response:
    limit = int(request.query_params["limit"]) + 1
    rows = await state["pool"].fetch(
        os.environ["BASELINE_LIST_SQL"].replace("<limit>", str(limit)),
        int(request.query_params["min_price"]),
    )
    body = orjson.dumps({"items": [dict(row) for row in rows]}, default=str)
    return Response(body, media_type="application/json")


async def _json_codecs(connection: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await connection.set_type_codec(
            name,
            schema="pg_catalog",
            encoder=lambda v: orjson.dumps(v).decode(),
            decoder=orjson.loads,
        )


async def product(request: Request) -> Response:
    row = await state["pool"].fetchrow(
        os.environ["BASELINE_PAGE_SQL"], "EUR", str(uuid.UUID(request.path_params["id"]))
    )
    if row is None:
        return Response(status_code=404)
    return Response(orjson.dumps(dict(row), default=str), media_type="application/json")


async def cached(request: Request) -> Response:
    return Response(
        await state["redis"].get(os.environ["BASELINE_CACHED_KEY"]), media_type="application/json"
    )


async def ready(request: Request) -> Response:
    return Response(b"ok")


app = Starlette(
    routes=[
        Route("/list", listing),
        Route("/product/{id}", product),
        Route("/cached", cached),
        Route("/health/ready", ready),
    ],
    lifespan=lifespan,
)
