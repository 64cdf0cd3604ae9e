"""Bulk import: the whole file validated first, errors by line, nothing half-imported."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from mercato.catalog.importer import ImportFailed, import_products
from mercato.platform.db.database import ConnectionBoundDatabase
from tests.integration.catalog.conftest import create_category, create_product

HEADER = "sku,slug,name,description,price_minor,currency,category,status,on_hand,attributes\n"


async def count_products(connection: AsyncConnection) -> int:
    return int(await connection.scalar(text("SELECT count(*) FROM catalog_product")) or 0)


async def test_a_valid_csv_is_imported_in_batches_and_published(
    client: httpx.AsyncClient,
    editor: dict[str, str],
    connection: AsyncConnection,
    database: ConnectionBoundDatabase,
    tmp_path: Path,
) -> None:
    await create_category(client, editor, "kitchen")
    path = tmp_path / "products.csv"
    path.write_text(
        HEADER
        + 'K-1,copper-kettle,Copper kettle,"Boils, fast",4999,EUR,kitchen,active,7,'
        + '"{""colour"": ""copper""}"\n'
        + "K-2,steel-kettle,Steel kettle,,2999,EUR,,active,0,\n"
        + "K-3,draft-kettle,Draft kettle,,1999,GBP,kitchen,draft,1,\n",
        encoding="utf-8",
    )
    report = await import_products(path, database, batch=2)
    assert (report.lines, report.imported, report.errors) == (3, 3, [])

    page = (await client.get("/api/v1/products", params={"q": "kettle"})).json()
    by_sku = {item["sku"]: item for item in page["items"]}
    assert set(by_sku) == {"K-1", "K-2"}  # the draft is not public
    assert by_sku["K-1"]["attributes"] == {"colour": "copper"}
    assert by_sku["K-1"]["category"]["slug"] == "kitchen"
    assert by_sku["K-1"]["stock"] == {"available": 7, "in_stock": True}
    events = await connection.scalar(
        text("SELECT count(*) FROM platform_outbox WHERE name = 'catalog.product.changed'")
    )
    assert events == 3  # one per imported product


async def test_any_error_is_reported_by_line_and_nothing_is_imported(
    client: httpx.AsyncClient,
    editor: dict[str, str],
    connection: AsyncConnection,
    database: ConnectionBoundDatabase,
    tmp_path: Path,
) -> None:
    await create_product(client, editor, sku="TAKEN-1", slug="taken")
    before = await count_products(connection)
    lines = [
        {"sku": "A-1", "slug": "a-1", "name": "A", "price_minor": 100, "currency": "EUR"},
        {"sku": "A-2", "slug": "a-2", "name": "B", "price_minor": -5, "currency": "EUR"},
        {
            "sku": "A-3",
            "slug": "a-3",
            "name": "C",
            "price_minor": 1,
            "currency": "EUR",
            "category": "nowhere",
        },
        {"sku": "A-1", "slug": "a-4", "name": "D", "price_minor": 1, "currency": "EUR"},
        {"sku": "TAKEN-1", "slug": "a-5", "name": "E", "price_minor": 1, "currency": "EUR"},
        {
            "sku": "A-6",
            "slug": "a-6",
            "name": "F",
            "price_minor": 1,
            "currency": "EUR",
            "role": "x",
        },
    ]
    path = tmp_path / "products.jsonl"
    path.write_text(
        "\n".join(json.dumps(line) for line in lines) + "\nnot json at all\n", encoding="utf-8"
    )
    with pytest.raises(ImportFailed) as failed:
        await import_products(path, database)
    errors = "\n".join(failed.value.report.errors)
    assert "line 2: price_minor" in errors
    assert "line 3: category 'nowhere' does not exist" in errors
    assert "line 4: sku 'A-1' repeats line 1" in errors
    assert "line 5: sku 'TAKEN-1' is taken" in errors
    assert "line 6: role" in errors
    assert "line 7: not JSON" in errors
    assert not any(error.startswith("line 1:") for error in failed.value.report.errors)
    assert failed.value.report.imported == 0
    assert await count_products(connection) == before


async def test_unknown_columns_and_file_types_are_refused(
    database: ConnectionBoundDatabase, tmp_path: Path
) -> None:
    csv_path = tmp_path / "products.csv"
    csv_path.write_text("sku,slug,name,price_minor,currency,is_superuser\n", encoding="utf-8")
    with pytest.raises(ImportFailed) as failed:
        await import_products(csv_path, database)
    assert failed.value.report.errors == ["line 1: unknown columns: is_superuser"]
    other = tmp_path / "products.xlsx"
    other.write_text("", encoding="utf-8")
    with pytest.raises(ImportFailed):
        await import_products(other, database)
