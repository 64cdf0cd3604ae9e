"""Query plans of the public list on a generated catalog with variants: the filters are
served by indexes, never by reading the catalog through.

At 200,000 products (~1.2M variants: `slow`, the seed alone takes minutes) the plans are
the planner's own choice on real statistics; in `make test` a small catalog checks, with
sequential scans priced out, that an index can serve each request at all. Both seed
inside the test's transaction (rolled back), as `mercato seed catalog` does (COPY).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection

from mercato.catalog.reads import _criteria_and_sort, product_listing
from mercato.catalog.schemas import ProductListParams
from mercato.catalog.seed import CatalogPlan, copy_catalog
from mercato.platform.db.compiled import compile_query
from mercato.platform.listing import keyset_statement, keyset_values

LARGE = 200_000
SMALL = 2_000
GIN_INDEXES = (
    "ix_catalog_product_tags",
    "ix_catalog_product_option_keys",
    "ix_catalog_product_search",
    "ix_catalog_product_name_trgm",
)
ANALYSED = (
    "catalog_category",
    "catalog_product",
    "catalog_product_price",
    "catalog_option",
    "catalog_variant",
    "catalog_variant_price",
    "catalog_variant_stock",
    "catalog_image",
)
# Requests of the public list (query parameters) and the indexes their plan must use.
REQUESTS: dict[str, tuple[dict[str, Any], set[str]]] = {
    "newest first": ({}, {"ix_catalog_product_active_created"}),
    "EUR from-price range, cheapest first": (
        {"currency": "EUR", "min_price": 2_000, "max_price": 9_000, "sort": "price"},
        {"ix_catalog_product_price_currency_from"},
    ),
    "a category's subtree": ({"category": "kitchen"}, {"ix_catalog_category_path"}),
    "full-text search": ({"q": "oak table"}, {"ix_catalog_product_search"}),
}


async def seed(connection: AsyncConnection, products: int) -> asyncpg.Connection:
    """The generated catalog in this test's transaction, analysed; its driver connection."""
    # Through the engine first: that opens the test's transaction, which the COPY joins.
    await connection.execute(text("SET LOCAL statement_timeout = 0"))  # setup, not under test
    raw = await connection.get_raw_connection()
    driver: asyncpg.Connection = raw.driver_connection
    assert driver.is_in_transaction()
    await copy_catalog(
        driver, CatalogPlan(products=products, categories=200), progress=lambda _: None
    )
    for index in GIN_INDEXES:
        # What autovacuum does in production: move the GIN pending lists into the indexes
        # (the planner prices a long pending list as a reason to read the table instead).
        await driver.execute("SELECT gin_clean_pending_list($1::regclass)", index)
    for table in ANALYSED:
        await driver.execute(f"ANALYZE {table}")
    return driver


async def plan_of(driver: asyncpg.Connection, query: dict[str, Any]) -> dict[str, Any]:
    """EXPLAIN (ANALYZE, BUFFERS) of the statement the list sends for `query`."""
    params = ProductListParams.model_validate(query)
    criteria, sort = _criteria_and_sort(params, fuzzy=False)
    compiled = compile_query(
        keyset_statement(product_listing(criteria), sort=sort, paged=False, limit=params.limit),
        PGDialect_asyncpg(),  # type: ignore[no-untyped-call]
    )
    values = criteria.values | keyset_values(sort=sort, cursor=None)
    explained = await driver.fetchval(
        "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + compiled.sql, *compiled.arguments(values)
    )
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


async def test_every_list_filter_can_be_served_by_an_index(connection: AsyncConnection) -> None:
    driver = await seed(connection, SMALL)
    await driver.execute("SET LOCAL enable_seqscan = off")
    for name, (query, wanted) in REQUESTS.items():
        plan = await plan_of(driver, query)
        assert not scanned_tables(plan) & set(ANALYSED), (name, plan)
        assert wanted <= indexes(plan), (name, indexes(plan))


@pytest.mark.slow
@pytest.mark.timeout(3_600)
async def test_at_200k_products_the_planner_chooses_the_indexes(
    connection: AsyncConnection,
) -> None:
    driver = await seed(connection, LARGE)
    assert await driver.fetchval("SELECT count(*) FROM catalog_variant") > 900_000
    for name, (query, wanted) in REQUESTS.items():
        plan = await plan_of(driver, query)
        assert not scanned_tables(plan), (name, scanned_tables(plan))
        assert wanted <= indexes(plan), (name, indexes(plan))
        # A page of 24 products reads a few hundred blocks, not the catalog (~30,000).
        assert blocks(plan) < 3_000, (name, blocks(plan))
