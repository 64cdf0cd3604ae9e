"""Catalog fixtures: a catalog editor (staff) and helpers that create through the API."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection

from mercato.catalog.cache import RedisCatalogCache
from mercato.platform.config import Settings
from mercato.platform.db.database import Database
from tests.integration.identity.conftest import client_over_real_engine
from tests.support.identity import bearer, seed_account

_numbers = itertools.count(1)


async def retire_cached_reads(redis_url: str) -> None:
    """Retire every cached catalog read in that Redis (a bump, as a committed change)."""
    redis = Redis.from_url(redis_url)
    try:
        await RedisCatalogCache(redis).invalidate()
    finally:
        await redis.aclose()


@pytest.fixture
async def shared(settings: Settings, redis_url: str) -> Settings:
    """Settings of API processes sharing Redis; entries of earlier tests are retired."""
    await retire_cached_reads(redis_url)
    return settings.model_copy(update={"redis_url": redis_url})


@pytest.fixture
async def editor(client: httpx.AsyncClient, connection: AsyncConnection) -> dict[str, str]:
    await seed_account(connection, email="editor@corp.example", roles=("staff",))
    return await bearer(client, "editor@corp.example")


async def create_category(
    client: httpx.AsyncClient, headers: dict[str, str], slug: str, parent: str | None = None
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/admin/categories",
        json={"slug": slug, "name": slug.replace("-", " ").title(), "parent": parent},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def create_product(
    client: httpx.AsyncClient, headers: dict[str, str], **fields: Any
) -> dict[str, Any]:
    number = next(_numbers)
    body = {
        "sku": f"SKU-{number:05}",
        "slug": f"product-{number}",
        "name": f"Product {number}",
        "price_minor": 1000 + number,
        "currency": "EUR",
        "status": "active",
        "on_hand": 5,
        **fields,
    }
    response = await client.post("/api/v1/admin/products", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


CATALOG_TABLES = (
    "catalog_image",
    "catalog_variant_stock",
    "catalog_variant_price",
    "catalog_variant",
    "catalog_option",
    "catalog_product_price",
    "catalog_product",
    "catalog_category",
    "catalog_search_word",
    "platform_idempotency_key",
    # Their events too: tests of the outbox count what is in it.
    "platform_outbox",
)


async def empty_catalog_tables(settings: Settings) -> None:
    database = Database.from_settings(settings.database)
    try:
        async with database.session() as session, session.begin():
            await session.execute(text(f"TRUNCATE {', '.join(CATALOG_TABLES)} CASCADE"))
    finally:
        await database.dispose()


@pytest.fixture
async def live_catalog_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose commits are real (for races); catalog and identity tables are
    emptied before and after."""
    await empty_catalog_tables(settings)
    try:
        async with client_over_real_engine(settings) as client:
            yield client
    finally:
        await empty_catalog_tables(settings)


@asynccontextmanager
async def counted_statements(connection: AsyncConnection) -> AsyncIterator[list[str]]:
    """The statements sent on `connection`: through SQLAlchemy (its events) and straight
    through the driver (compiled reads, `platform.db.compiled`: asyncpg's query logger)."""
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    def count_driver(record: Any) -> None:
        statements.append(str(record.query))

    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    event.listen(connection.sync_connection, "before_cursor_execute", count)
    driver.add_query_logger(count_driver)
    try:
        yield statements
        await asyncio.sleep(0)  # asyncpg calls its loggers soon after, not at once
    finally:
        event.remove(connection.sync_connection, "before_cursor_execute", count)
        driver.remove_query_logger(count_driver)
