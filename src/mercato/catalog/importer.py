"""`mercato catalog import FILE.csv|FILE.jsonl`: products in bulk, validated first.

The whole file is checked before anything is written: every line against the same schema
as `POST /api/v1/admin/products`, categories that must exist, SKUs and slugs unique in the
file and not taken by live products. Any error: each is reported with its line number and
nothing is imported. Then products are written in batches, one transaction per batch
(products, stock and their `catalog.product.changed` events together): a batch is all or
nothing, and a batch that still fails (someone created the same SKU meanwhile) stops the
import there, with the batches before it committed and reported.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from mercato.catalog.changes import publish_change
from mercato.catalog.events import ProductChanged
from mercato.catalog.models import Category, Product, Variant
from mercato.catalog.products import add_default_variant, new_product
from mercato.catalog.repository import CatalogRepository
from mercato.catalog.schemas import ProductIn
from mercato.catalog.summary import refresh_product
from mercato.platform.db.database import Database
from mercato.platform.db.uow import UnitOfWork

CSV_COLUMNS = (
    "sku",
    "slug",
    "name",
    "description",
    "price_minor",
    "currency",
    "category",
    "status",
    "on_hand",
    "attributes",
)
MAX_REPORTED_ERRORS = 100


@dataclass
class ImportReport:
    lines: int = 0
    imported: int = 0
    errors: list[str] = field(default_factory=list)


class ImportFailed(Exception):
    def __init__(self, report: ImportReport) -> None:
        super().__init__(f"{len(report.errors)} error(s)")
        self.report = report


def read_lines(path: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, fields) per product; a string instead of fields is a parse error."""
    if path.suffix.lower() == ".jsonl":
        with path.open(encoding="utf-8") as file:
            for number, line in enumerate(file, start=1):
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except json.JSONDecodeError as error:
                    yield number, f"not JSON: {error.msg}"
                    continue
                yield number, value if isinstance(value, dict) else "not a JSON object"
    elif path.suffix.lower() == ".csv":
        with path.open(encoding="utf-8", newline="") as file:
            reader = csv.DictReader(file)
            unknown = set(reader.fieldnames or ()) - set(CSV_COLUMNS)
            if unknown:
                yield 1, f"unknown columns: {', '.join(sorted(unknown))}"
                return
            for row in reader:
                yield reader.line_num, _from_csv(row)
    else:
        yield 0, "the file must end in .csv or .jsonl"


def _from_csv(row: dict[str, str]) -> dict[str, Any] | str:
    fields: dict[str, Any] = {key: value for key, value in row.items() if value not in ("", None)}
    if "attributes" in fields:
        try:
            fields["attributes"] = json.loads(fields["attributes"])
        except json.JSONDecodeError:
            return "attributes: not JSON"
    return fields


async def import_products(
    path: Path,
    database: Database,
    *,
    unit_of_work: Callable[[], UnitOfWork] | None = None,
    batch: int = 1_000,
    progress: Callable[[int], None] = lambda _: None,
) -> ImportReport:
    """Validate the whole file (errors by line, nothing written), then write it in
    batches, one transaction each, through `unit_of_work` (the runtime's, so that cached
    reads retire after each batch)."""
    new_unit_of_work = unit_of_work or (lambda: UnitOfWork(database))
    report = ImportReport()
    products: list[tuple[int, ProductIn]] = []
    for number, fields in read_lines(path):
        report.lines += 1
        if isinstance(fields, str):
            report.errors.append(f"line {number}: {fields}")
            continue
        try:
            products.append((number, ProductIn.model_validate(fields)))
        except ValidationError as error:
            for problem in error.errors():
                where = ".".join(str(part) for part in problem["loc"]) or "line"
                report.errors.append(f"line {number}: {where}: {problem['msg']}")
    categories = await _check_against_database(database, products, report)
    if report.errors:
        report.errors = report.errors[:MAX_REPORTED_ERRORS]
        raise ImportFailed(report)
    for start in range(0, len(products), batch):
        chunk = products[start : start + batch]
        try:
            await _write(new_unit_of_work(), chunk, categories)
        except IntegrityError:
            first, last = chunk[0][0], chunk[-1][0]
            report.errors.append(
                f"lines {first}-{last}: a SKU or slug was taken meanwhile; this batch was"
                f" rolled back, {report.imported} products before it were imported"
            )
            raise ImportFailed(report) from None
        report.imported += len(chunk)
        progress(len(chunk))
    return report


async def _check_against_database(
    database: Database, products: list[tuple[int, ProductIn]], report: ImportReport
) -> dict[str, Any]:
    """Unknown categories, duplicates in the file, SKUs and slugs already live."""
    seen: dict[tuple[str, str], int] = {}
    for number, product in products:
        for kind, value in (("sku", product.sku or ""), ("slug", product.slug)):
            earlier = seen.setdefault((kind, value), number)
            if earlier != number:
                report.errors.append(f"line {number}: {kind} {value!r} repeats line {earlier}")
    wanted = {product.category for _, product in products if product.category}
    skus = [product.sku or "" for _, product in products]
    slugs = [product.slug for _, product in products]
    async with database.read_session() as session:
        found = await session.execute(
            select(Category.slug, Category.id).where(
                Category.slug.in_(wanted), Category.deleted_at.is_(None)
            )
        )
        categories = {row.slug: row.id for row in found}
        live = Product.deleted_at.is_(None)
        taken_skus = {
            sku.lower()
            for sku in await session.scalars(
                select(Variant.sku).where(
                    func.lower(Variant.sku).in_([sku.lower() for sku in skus]),
                    Variant.deleted_at.is_(None),
                )
            )
        }
        taken_slugs = set(
            await session.scalars(select(Product.slug).where(Product.slug.in_(slugs), live))
        )
    for number, product in products:
        if product.category and product.category not in categories:
            report.errors.append(f"line {number}: category {product.category!r} does not exist")
        if (product.sku or "").lower() in taken_skus:
            report.errors.append(f"line {number}: sku {product.sku!r} is taken by a live product")
        if product.slug in taken_slugs:
            report.errors.append(f"line {number}: slug {product.slug!r} is taken by a live product")
    return categories


async def _write(
    uow: UnitOfWork, chunk: list[tuple[int, ProductIn]], categories: dict[str, Any]
) -> None:
    async with uow:
        rows = []
        for _, product in chunk:
            category_id = categories.get(product.category) if product.category else None
            row = new_product(product, category_id=category_id)
            rows.append((row, product))
            uow.session.add(row)
        await uow.session.flush()
        catalog = CatalogRepository(uow.session)
        for row, product in rows:
            await add_default_variant(catalog, row.id, product)
            await refresh_product(uow.session, row.id)
            publish_change(
                uow,
                ProductChanged(product_id=row.id, slugs=[row.slug], change="created"),
                aggregate_id=row.id,
            )
        await uow.commit()
