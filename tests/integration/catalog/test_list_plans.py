"""The public list's statements are answered by indexes, not by reading every product:
EXPLAIN on 20,000 products (statistics taken), for the default order, the from-price
order, and the tag, type and option filters (the 200k-product run is in the benchmarks)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from mercato.catalog.reads import ProductList, product_listing
from mercato.catalog.schemas import ProductListParams
from mercato.platform.db.compiled import compile_query
from mercato.platform.listing import keyset_statement, keyset_values

PRODUCTS = 20_000

_FILL = [
    # Filling takes a few seconds on a busy machine: longer than a request may.
    "SET LOCAL statement_timeout = 0",
    """
    INSERT INTO catalog_product (id, slug, name, status, tags, product_type, option_keys,
        in_stock, created_at)
    SELECT gen_random_uuid(), 'plan-' || n, 'Product ' || n,
        CASE WHEN n % 20 = 0 THEN 'draft' ELSE 'active' END,
        CASE WHEN n % 500 = 0 THEN ARRAY['rare', 'summer'] ELSE ARRAY['summer'] END,
        CASE WHEN n % 400 = 0 THEN 'Kettle' ELSE 'Mug' END,
        CASE WHEN n % 300 = 0 THEN ARRAY['size=xl'] ELSE ARRAY['size=m'] END,
        n % 7 <> 0,
        now() - n * interval '1 minute'
    FROM generate_series(1, :products) AS n
    """,
    """
    INSERT INTO catalog_product_price (product_id, currency, from_minor)
    SELECT id, 'EUR', (hashtext(slug) & 65535) + 100 FROM catalog_product
    WHERE slug LIKE 'plan-%'
    """,
    "ANALYZE catalog_product",
    "ANALYZE catalog_product_price",
]


async def plan_of(connection: AsyncConnection, query_string: dict[str, str]) -> str:
    listing = ProductList.plan(
        ProductListParams.model_validate(query_string), default_currency="EUR"
    )
    statement = keyset_statement(
        product_listing(listing.criteria), sort=listing.sort, paged=False, limit=24
    )
    query = compile_query(statement, connection.dialect)
    values = listing.criteria.values | keyset_values(sort=listing.sort, cursor=None)
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    rows = await driver.fetch("EXPLAIN " + query.sql, *query.arguments(values))
    return "\n".join(row[0] for row in rows)


@pytest.fixture
async def filled(connection: AsyncConnection) -> AsyncConnection:
    for statement in _FILL:
        await connection.execute(text(statement), {"products": PRODUCTS})
    return connection


@pytest.mark.parametrize(
    ("query_string", "index"),
    [
        ({}, "ix_catalog_product_active_created"),
        ({"sort": "price"}, "ix_catalog_product_price_currency_from"),
        ({"sort": "-price", "currency": "EUR"}, "ix_catalog_product_price_currency_from"),
        ({"tag": "rare"}, "ix_catalog_product_tags"),
        ({"type": "Kettle"}, "ix_catalog_product_type"),
        ({"option.size": "XL"}, "ix_catalog_product_option_keys"),
    ],
    ids=["newest", "price", "price-desc", "tag", "type", "option"],
)
async def test_list_statements_use_their_index(
    filled: AsyncConnection, query_string: dict[str, str], index: str
) -> None:
    plan = await plan_of(filled, query_string)
    assert index in plan, plan
    assert "Seq Scan on catalog_product " not in plan, plan
