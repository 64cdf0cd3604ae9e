"""`catalog import` / `export`: a Shopify export goes straight in, every table a product
spans is written in one transaction or none is, and what is exported reads back in."""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from mercato.catalog.exporter import export_pages, price_currencies
from mercato.catalog.importer import ImportFailed, import_catalog
from mercato.catalog.transfer import native, shopify
from mercato.catalog.transfer.choices import FileFormat, ImportMode
from mercato.catalog.transfer.records import ProductRecord
from mercato.platform.config import Settings
from mercato.platform.db.database import ConnectionBoundDatabase, Database
from tests.integration.catalog.conftest import create_category, empty_catalog_tables
from tests.unit.catalog.test_shopify_csv import FIXTURE, fixture_products

CATALOG_COUNTS = """
SELECT (SELECT count(*) FROM catalog_product) AS products,
       (SELECT count(*) FROM catalog_variant) AS variants,
       (SELECT count(*) FROM catalog_variant_price) AS prices,
       (SELECT count(*) FROM catalog_image) AS images,
       (SELECT count(*) FROM catalog_option) AS options
"""


async def counts(connection: AsyncConnection) -> dict[str, int]:
    row = (await connection.execute(text(CATALOG_COUNTS))).one()
    return dict(row._mapping)


async def exported(database: ConnectionBoundDatabase) -> list[ProductRecord]:
    return [record async for page in export_pages(database) for record in page]


async def product_row(connection: AsyncConnection, slug: str) -> dict[str, Any]:
    row = (
        await connection.execute(
            text(
                "SELECT id, status, product_type, tags, in_stock, option_keys, version,"
                " search::text AS search FROM catalog_product WHERE slug = :slug"
                " AND deleted_at IS NULL"
            ),
            {"slug": slug},
        )
    ).one()
    return dict(row._mapping)


async def from_prices(connection: AsyncConnection, product_id: uuid.UUID) -> dict[str, int]:
    rows = await connection.execute(
        text("SELECT currency, from_minor FROM catalog_product_price WHERE product_id = :id"),
        {"id": product_id},
    )
    return {row.currency: row.from_minor for row in rows}


async def test_a_shopify_export_goes_straight_in(
    connection: AsyncConnection, database: ConnectionBoundDatabase
) -> None:
    before = await counts(connection)
    steps: list[tuple[str, int]] = []
    report = await import_catalog(
        FIXTURE, database, currency="EUR", progress=lambda stage, n: steps.append((stage, n))
    )
    assert (report.products, report.variants, report.created, report.updated) == (4, 10, 4, 0)
    assert {stage for stage, _ in steps} == {"read", "write"}
    after = await counts(connection)
    assert {key: after[key] - before[key] for key in after} == {
        "products": 4,
        "variants": 10,
        "prices": 10,
        "images": 3 + 2 + 0 + 1,
        "options": 2 + 0 + 3 + 0,
    }
    tee = await product_row(connection, "linen-tee")
    assert (tee["status"], tee["product_type"], tee["in_stock"]) == ("active", "T-Shirts", True)
    assert tee["tags"] == ["linen", "summer", "men", "new arrival"]
    assert "size=m" in tee["option_keys"]
    assert "colour=navy&size=m" in tee["option_keys"]
    assert "'lt-nav-m'" in tee["search"]  # SKUs are searchable
    assert "'navy'" in tee["search"]  # and option values
    assert await from_prices(connection, tee["id"]) == {"EUR": 3800}
    lantern = await product_row(connection, "old-lantern")
    assert (lantern["status"], lantern["in_stock"]) == ("archived", False)
    stock = await connection.execute(
        text(
            "SELECT v.sku, s.on_hand, p.compare_at_minor FROM catalog_variant v"
            " JOIN catalog_variant_stock s ON s.variant_id = v.id"
            " JOIN catalog_variant_price p ON p.variant_id = v.id"
            " WHERE v.sku IN ('LT-NAT-S', 'LT-NAT-L', 'walnut-desk-2')"
        )
    )
    assert sorted(stock.all()) == [
        ("LT-NAT-L", 0, None),
        ("LT-NAT-S", 12, 4500),
        ("walnut-desk-2", 0, None),
    ]
    events = await connection.scalar(
        text("SELECT count(*) FROM platform_outbox WHERE name = 'catalog.product.changed'")
    )
    assert events == 4  # one per product: caches retire after the commit


async def test_what_is_exported_reads_back_the_same(
    connection: AsyncConnection, database: ConnectionBoundDatabase, tmp_path: Path
) -> None:
    await import_catalog(FIXTURE, database, currency="EUR")
    first = [r for r in await exported(database) if r.handle in HANDLES]
    # The catalog links an image to one variant; Shopify lets several share it (the three
    # natural tees): the link is kept for the first.
    expected = fixture_products()
    for record in expected:
        seen: set[str] = set()
        for variant in record.variants:
            if variant.image_url in seen:
                variant.image_url = None
            seen.add(variant.image_url or "")
    assert sorted(first, key=lambda r: r.handle) == sorted(expected, key=lambda r: r.handle)

    out = tmp_path / "export.csv"
    with out.open("w", encoding="utf-8", newline="") as file:
        shopify.write_products(first, file, currency="EUR")
    report = await import_catalog(out, database, mode=ImportMode.UPDATE, currency="EUR")
    assert (report.created, report.updated) == (0, 4)
    again = [r for r in await exported(database) if r.handle in HANDLES]
    assert again == first
    ours = tmp_path / "ours.jsonl"
    with ours.open("w", encoding="utf-8") as file:
        native.write_jsonl(first, file, currencies=await price_currencies(database))
    report = await import_catalog(ours, database, mode=ImportMode.UPSERT)
    assert report.updated == 4
    assert [r for r in await exported(database) if r.handle in HANDLES] == first


HANDLES = {"linen-tee", "stoneware-mug", "walnut-desk", "old-lantern"}


async def test_any_error_is_reported_by_line_and_column_and_nothing_is_imported(
    client: httpx.AsyncClient,
    editor: dict[str, str],
    connection: AsyncConnection,
    database: ConnectionBoundDatabase,
    tmp_path: Path,
) -> None:
    await create_category(client, editor, "kitchen")
    await import_catalog(FIXTURE, database, currency="EUR")
    before = await counts(connection)
    lines = [
        {"handle": "good", "name": "G", "sku": "G-1", "price_eur": "1", "category": "kitchen"},
        {"handle": "bad-price", "name": "B", "sku": "G-2", "price_eur": "1,00"},
        {"handle": "nowhere", "name": "C", "sku": "G-3", "price_eur": "1", "category": "nowhere"},
        {"handle": "dup-sku", "name": "D", "sku": "g-1", "price_eur": "1"},
        {"handle": "taken-sku", "name": "E", "sku": "lt-nat-s", "price_eur": "1"},
        {"handle": "linen-tee", "name": "F", "sku": "F-1", "price_eur": "1"},
        {"handle": "Bad Handle", "name": "H", "sku": "H 1", "price_eur": "1"},
        {"handle": "plain-http", "name": "I", "sku": "I-1", "price_eur": "1",
         "images": [{"url": "http://cdn.example.com/i.jpg"}]},
    ]  # fmt: skip
    path = tmp_path / "products.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    with pytest.raises(ImportFailed) as failed:
        await import_catalog(path, database)
    errors = [str(error) for error in failed.value.report.errors]
    assert errors == [
        "line 2, column 'price_eur': not a price: digits with an optional decimal point,"
        " e.g. 12.50",
        "line 7, column 'handle': a handle is lower-case letters and digits in words joined"
        " by single hyphens, at most 160 characters",
        "line 7, column 'sku': a SKU starts with a letter or digit and holds letters,"
        " digits, '.', '_' and '-'",
        "line 8, column 'images': not https (nor under the configured media base)",
        "line 4, column 'sku': this SKU is also on line 1 (case does not make SKUs different)",
        "line 3, column 'category': no such category (its slug)",
        "line 5, column 'sku': this SKU belongs to another product's variant",
        "line 6, column 'handle': a product has this handle (use --mode upsert)",
    ]
    assert await counts(connection) == before


async def test_update_mode_keeps_matched_variants_and_refuses_stock_below_reserved(
    connection: AsyncConnection, database: ConnectionBoundDatabase, tmp_path: Path
) -> None:
    await import_catalog(FIXTURE, database, currency="EUR")
    ids = {
        row.sku: row.id
        for row in await connection.execute(text("SELECT sku, id FROM catalog_variant"))
    }
    mug = tmp_path / "mug.csv"
    header = "handle,name,option1_name,option1_value,sku,price_eur,price_usd,on_hand,tags\n"
    mug.write_text(
        header
        + 'stoneware-mug,Stoneware Mug,Size,Regular,mug-350,13.00,14.00,30,"kitchen, gift"\n'
        + "stoneware-mug,,,Large,MUG-500,16.00,,4,\n",
        encoding="utf-8",
    )
    report = await import_catalog(mug, database, mode=ImportMode.UPDATE)
    assert (report.created, report.updated) == (0, 1)
    variants = (
        await connection.execute(
            text(
                "SELECT v.id, v.sku, v.option_values, s.on_hand FROM catalog_variant v"
                " JOIN catalog_variant_stock s ON s.variant_id = v.id"
                " JOIN catalog_product p ON p.id = v.product_id"
                " WHERE p.slug = 'stoneware-mug' AND v.deleted_at IS NULL ORDER BY v.position"
            )
        )
    ).all()
    assert [(row.sku, row.option_values, row.on_hand) for row in variants] == [
        ("mug-350", ["Regular"], 30),
        ("MUG-500", ["Large"], 4),
    ]
    assert variants[0].id == ids["MUG-350"]  # matched by SKU whatever the case: same id
    mug_row = await product_row(connection, "stoneware-mug")
    assert await from_prices(connection, mug_row["id"]) == {"EUR": 1300, "USD": 1400}
    assert mug_row["tags"] == ["kitchen", "gift"]
    assert mug_row["status"] == "draft"  # the file says nothing: our format's default

    await connection.execute(
        text("UPDATE catalog_variant_stock SET reserved = 5 WHERE variant_id = :id"),
        {"id": ids["MUG-350"]},
    )
    before = await counts(connection)
    mug.write_text(header + "stoneware-mug,Mug,Size,Regular,MUG-350,1.00,,2,\n", encoding="utf-8")
    with pytest.raises(ImportFailed) as failed:
        await import_catalog(mug, database, mode=ImportMode.UPSERT)
    assert [str(error) for error in failed.value.report.errors] == [
        "line 2, column 'on_hand': 2 on hand is fewer than the units orders have reserved"
    ]
    assert await counts(connection) == before
    on_hand = await connection.scalar(
        text("SELECT on_hand FROM catalog_variant_stock WHERE variant_id = :id"),
        {"id": ids["MUG-350"]},
    )
    assert on_hand == 30  # rolled back with the rest


async def test_files_that_cannot_be_read_are_refused_whole(
    database: ConnectionBoundDatabase, tmp_path: Path
) -> None:
    other = tmp_path / "products.xlsx"
    other.write_text("", encoding="utf-8")
    with pytest.raises(ImportFailed) as failed:
        await import_catalog(other, database)
    assert [str(e) for e in failed.value.report.errors] == [
        "file: the file must end in .csv or .jsonl"
    ]
    with pytest.raises(ImportFailed) as failed:
        await import_catalog(FIXTURE, database, file_format=FileFormat.SHOPIFY)
    assert "--currency" in str(failed.value.report.errors[0])
    csv_path = tmp_path / "products.csv"
    csv_path.write_text("handle,name,sku,price_eur,is_superuser\n", encoding="utf-8")
    with pytest.raises(ImportFailed) as failed:
        await import_catalog(csv_path, database)
    (error,) = [str(e) for e in failed.value.report.errors]
    assert error.startswith("file: line 1: unknown columns: is_superuser; expected: handle,")


def test_the_written_csv_has_a_price_column_per_currency() -> None:
    out = io.StringIO()
    native.write_csv(fixture_products(), out, currencies=["EUR", "USD"])
    header = out.getvalue().splitlines()[0].split(",")
    assert header[header.index("price_eur") : header.index("price_eur") + 4] == [
        "price_eur",
        "compare_at_eur",
        "price_usd",
        "compare_at_usd",
    ]


async def test_on_a_real_engine_a_failed_import_leaves_nothing_behind(
    settings: Settings, tmp_path: Path
) -> None:
    """Not inside a test's rolled-back transaction: the import's own unit of work commits,
    or nothing it wrote survives (its COPY and bulk statements included)."""
    await empty_catalog_tables(settings)
    database = Database.from_settings(settings.database)
    try:
        await import_catalog(FIXTURE, database, currency="EUR")
        async with database.session() as session, session.begin():
            await session.execute(
                text(
                    "UPDATE catalog_variant_stock SET reserved = 5 WHERE variant_id ="
                    " (SELECT id FROM catalog_variant WHERE sku = 'MUG-350')"
                )
            )
        path = tmp_path / "catalog.csv"
        path.write_text(
            "handle,name,option1_name,option1_value,sku,price_eur,on_hand\n"
            "linen-tee,Renamed Tee,Size,S,LT-NAT-S,1.00,1\n"
            "brand-new,Brand New,,,NEW-1,1.00,1\n"
            "stoneware-mug,Mug,,,MUG-350,1.00,2\n",
            encoding="utf-8",
        )
        with pytest.raises(ImportFailed) as failed:
            await import_catalog(path, database, mode=ImportMode.UPSERT)
        assert [error.line for error in failed.value.report.errors] == [4]
        async with database.read_session() as reads:
            names = set(await reads.scalars(text("SELECT name FROM catalog_product")))
            variants = await reads.scalar(
                text("SELECT count(*) FROM catalog_variant WHERE deleted_at IS NULL")
            )
        assert names == {"Linen Tee", "Stoneware Mug", "Walnut Desk", "Old Lantern"}
        assert variants == 10  # the tee's five other variants were not deleted
    finally:
        await database.dispose()
        await empty_catalog_tables(settings)
