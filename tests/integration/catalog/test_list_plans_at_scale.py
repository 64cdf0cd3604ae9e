"""Query plans of the public list at 200,000 generated products (~1.2M variants), as
`mercato seed catalog` loads them, in a database seeded once for the module: the
planner's own choice on real statistics reads a page's worth of blocks, never the
catalog. `slow` (the seed alone takes minutes); `test_list_plans.py` checks the index of
each filter on 20,000 products in `make test`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg

from mercato.catalog.reads import ProductList, product_statement, tag_in_use
from mercato.catalog.schemas import ProductListParams
from mercato.catalog.seed import CatalogPlan, seed_catalog
from mercato.platform.db import migrations
from mercato.platform.db.compiled import compile_query
from mercato.platform.listing import keyset_values
from tests.conftest import create_database, drop_database

LARGE = 200_000
# Requests of the public list (query parameters) and the indexes their plan must use.
REQUESTS: dict[str, tuple[dict[str, Any], set[str]]] = {
    "newest first": ({}, {"ix_catalog_product_active_created"}),
    "EUR from-price range, cheapest first": (
        {"currency": "EUR", "min_price": 2_000, "max_price": 9_000, "sort": "price"},
        {"ix_catalog_product_price_currency_from"},
    ),
    "a category's subtree": ({"category": "kitchen"}, set()),
    "full-text search": ({"q": "oak table"}, {"ix_catalog_product_search"}),
    "a tag on half the products": ({"tag": "bestseller"}, set()),
    "a tag no product has": ({"tag": "no such tag"}, {"ix_catalog_product_tags"}),
    "a product type": ({"type": "kettle"}, set()),
    "an option": ({"option.size": "M"}, set()),
    "three options on 0.2 % of the products": (
        {"option.size": "XS", "option.colour": "teal", "option.material": "brass"},
        set(),
    ),
    "an option value no variant has": ({"option.size": "XXXL"}, {"ix_catalog_product_option_keys"}),
}


async def plan_of(driver: asyncpg.Connection, query: dict[str, Any]) -> dict[str, Any]:
    """EXPLAIN (ANALYZE, BUFFERS) of the statement that answers the list for `query`: with
    a tag, the list first asks whether any product has it (`tag_in_use`), and when none
    has, that question is the whole read."""
    params = ProductListParams.model_validate(query)
    listing = ProductList.plan(params, default_currency="EUR")
    values = listing.criteria.values | keyset_values(sort=listing.sort, cursor=None)
    dialect = PGDialect_asyncpg()  # type: ignore[no-untyped-call]
    if listing.criteria.tag is not None:
        guard = compile_query(tag_in_use(), dialect)
        if not await driver.fetchval(guard.sql, *guard.arguments(values)):
            return await explain(driver, guard.sql, guard.arguments(values))
    compiled = compile_query(
        product_statement(listing.criteria, sort=listing.sort, paged=False, limit=params.limit),
        dialect,
    )
    return await explain(driver, compiled.sql, compiled.arguments(values))


async def explain(
    driver: asyncpg.Connection, sql: str, arguments: tuple[Any, ...]
) -> dict[str, Any]:
    explained = await driver.fetchval("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, *arguments)
    # The engine's connections decode json themselves; a bare asyncpg one gives text.
    document = json.loads(explained) if isinstance(explained, str) else explained
    plan: dict[str, Any] = document[0]["Plan"]
    return plan


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from nodes(child)


def indexes(plan: dict[str, Any]) -> set[str]:
    return {node["Index Name"] for node in nodes(plan) if "Index Name" in node}


def scanned_tables(plan: dict[str, Any]) -> set[str]:
    return {node["Relation Name"] for node in nodes(plan) if node["Node Type"] == "Seq Scan"}


def blocks(plan: dict[str, Any]) -> int:
    """Shared blocks the statement touched (hit or read): a measure of work that does not
    depend on how busy the machine is."""
    return int(plan["Shared Hit Blocks"]) + int(plan["Shared Read Blocks"])


@pytest.fixture(scope="module")
async def large_catalog(postgres_server: str) -> AsyncIterator[asyncpg.Connection]:
    """200,000 generated products in a database of their own, seeded once for the module
    as `mercato seed catalog` does (COPY, then VACUUM (ANALYZE))."""
    url = await create_database(postgres_server, prefix="mercato_plans")
    try:
        await asyncio.to_thread(migrations.upgrade, url)
        connection = await asyncpg.connect(url)
        try:
            await seed_catalog(
                connection, CatalogPlan(products=LARGE, categories=500), progress=lambda _: None
            )
            yield connection
        finally:
            await connection.close()
    finally:
        await drop_database(postgres_server, url)


# Small tables a plan may read whole.
SMALL_TABLES = {"catalog_category"}


@pytest.mark.slow
@pytest.mark.timeout(3_600)
@pytest.mark.parametrize("name", list(REQUESTS))
async def test_at_200k_products_the_planner_chooses_the_indexes(
    large_catalog: asyncpg.Connection, name: str
) -> None:
    query, wanted = REQUESTS[name]
    plan = await plan_of(large_catalog, query)
    assert not scanned_tables(plan) - SMALL_TABLES, scanned_tables(plan)
    assert wanted <= indexes(plan), indexes(plan)
    # A page of 24 products reads hundreds to a few thousand blocks (a filter matching
    # 0.2 % of the products walks ~13,000 index entries), never the catalog (~80,000); a
    # full-text search ranks every match of its words first.
    assert blocks(plan) < (10_000 if "q" in query else 5_000), blocks(plan)
