"""Revision 0011 on a database with products: each becomes a product with one default
variant carrying its SKU, price and stock; the downgrade folds them back."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from mercato.platform.db import migrations
from tests.conftest import create_database, drop_database

BEFORE, VARIANTS = "0010", "0011"


@pytest.fixture
async def database_at_0010(postgres_server: str) -> AsyncIterator[str]:
    url = await create_database(postgres_server, prefix="mercato_variants_migration")
    try:
        await asyncio.to_thread(migrations.upgrade, url, BEFORE)
        yield url
    finally:
        await drop_database(postgres_server, url)


PRODUCTS = [
    # id, sku, slug, price_minor, currency, on_hand, reserved, deleted
    (uuid.uuid4(), "MUG-1", "mug", 1299, "EUR", 10, 3, False),
    (uuid.uuid4(), "mug-1", "mug-too", 500, "GBP", 0, 0, False),  # same SKU but for case
    (uuid.uuid4(), "KETTLE", "kettle", 4999, "USD", 2, 2, False),
    (uuid.uuid4(), "OLD", "old", 100, "EUR", 1, 0, True),
]


async def insert_products(connection: asyncpg.Connection) -> None:
    for product_id, sku, slug, price, currency, on_hand, reserved, deleted in PRODUCTS:
        await connection.execute(
            "INSERT INTO catalog_product (id, sku, slug, name, price_minor, currency, status,"
            " deleted_at) VALUES ($1, $2, $3, $4, $5, $6, 'active', CASE WHEN $7 THEN now() END)",
            product_id,
            sku,
            slug,
            slug.title(),
            price,
            currency,
            deleted,
        )
        await connection.execute(
            "INSERT INTO catalog_inventory (product_id, on_hand, reserved) VALUES ($1, $2, $3)",
            product_id,
            on_hand,
            reserved,
        )


async def test_products_become_default_variants_and_fold_back(database_at_0010: str) -> None:
    connection = await asyncpg.connect(database_at_0010)
    try:
        await insert_products(connection)
        await asyncio.to_thread(migrations.upgrade, database_at_0010, VARIANTS)

        variants = {
            row["product_id"]: row
            for row in await connection.fetch(
                "SELECT v.product_id, v.sku, v.option_values, v.deleted_at IS NOT NULL AS gone,"
                " pr.currency, pr.amount_minor, s.on_hand, s.reserved"
                " FROM catalog_variant v JOIN catalog_variant_price pr ON pr.variant_id = v.id"
                " JOIN catalog_variant_stock s ON s.variant_id = v.id"
            )
        }
        assert len(variants) == len(PRODUCTS)
        for product_id, _sku, _, price, currency, on_hand, reserved, deleted in PRODUCTS:
            variant = variants[product_id]
            assert (variant["currency"], variant["amount_minor"]) == (currency, price)
            assert (variant["on_hand"], variant["reserved"]) == (on_hand, reserved)
            assert variant["option_values"] == []
            assert variant["gone"] is deleted
        # SKUs are unique case-insensitively now: the later one got a suffix.
        assert variants[PRODUCTS[0][0]]["sku"] == "MUG-1"
        assert variants[PRODUCTS[1][0]]["sku"] == "mug-1-2"

        products = {
            row["id"]: row
            for row in await connection.fetch(
                "SELECT id, in_stock, search @@ to_tsquery('simple', 'kettle') AS found"
                " FROM catalog_product"
            )
        }
        assert products[PRODUCTS[0][0]]["in_stock"] is True
        assert products[PRODUCTS[1][0]]["in_stock"] is False  # none on hand
        assert products[PRODUCTS[2][0]]["in_stock"] is False  # all reserved
        assert products[PRODUCTS[2][0]]["found"] is True
        from_prices = await connection.fetch(
            "SELECT product_id, currency, from_minor FROM catalog_product_price"
        )
        assert {(row["product_id"], row["currency"], row["from_minor"]) for row in from_prices} == {
            (product_id, currency, price)
            for product_id, _, _, price, currency, _, _, deleted in PRODUCTS
            if not deleted
        }

        await asyncio.to_thread(migrations.downgrade, database_at_0010, BEFORE)
        folded = {
            row["id"]: row
            for row in await connection.fetch(
                "SELECT p.id, p.sku, p.price_minor, p.currency, i.on_hand, i.reserved"
                " FROM catalog_product p JOIN catalog_inventory i ON i.product_id = p.id"
            )
        }
        for product_id, _sku, _, price, currency, on_hand, reserved, deleted in PRODUCTS:
            row = folded[product_id]
            assert (row["price_minor"], row["currency"]) == (price, currency)
            if not deleted:  # a deleted product's stock is not counted
                assert (row["on_hand"], row["reserved"]) == (on_hand, reserved)
        assert folded[PRODUCTS[0][0]]["sku"] == "MUG-1"
        assert folded[PRODUCTS[1][0]]["sku"] == "mug-1-2"
        assert await connection.fetchval("SELECT count(*) FROM catalog_product") == len(PRODUCTS)
    finally:
        await connection.close()
