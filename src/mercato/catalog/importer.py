"""`mercato catalog import FILE`: products with their options, variants, prices, stock,
images and tags, from our CSV/JSONL or a Shopify product export. All or nothing.

The whole file is read and checked first: every line against the format (`transfer/`),
then every product against the catalog (handles and SKUs as the API accepts them,
categories that exist, SKUs unique in the file and not taken by another product, and the
mode: `create` refuses a handle that exists, `update` one that does not, `upsert` takes
both). Any error: each is reported with its line and column, and nothing is written.
Then one transaction writes everything: new products by COPY (`bulk.py`), existing ones
overwritten (`overwrite.py`), a `catalog.product.changed` event per product, so caches
retire after the commit. A concurrent write that takes a SKU or handle meanwhile fails
the transaction: nothing is imported then either.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from sqlalchemy import ARRAY, BindParameter, Text, any_, bindparam, func, select, text
from sqlalchemy.exc import IntegrityError

from mercato.catalog.bulk import CatalogRows
from mercato.catalog.changes import publish_change
from mercato.catalog.events import ProductChanged
from mercato.catalog.images import checked_image_url
from mercato.catalog.models import Category, Product, Variant
from mercato.catalog.overwrite import Existing, Overwrite, overwrite_products
from mercato.catalog.schemas import SKU_PATTERN, SLUG_PATTERN
from mercato.catalog.transfer.choices import FileFormat, ImportMode
from mercato.catalog.transfer.files import MAX_REPORTED_ERRORS, read_catalog_file
from mercato.catalog.transfer.records import FileRefused, LineError, ProductRecord
from mercato.platform.clock import utc_now
from mercato.platform.db.database import Database, WriteSession
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.errors import Invalid

# As the admin API accepts them.
HANDLE = re.compile(SLUG_PATTERN)
SKU = re.compile(SKU_PATTERN)
MAX_HANDLE = 160


@dataclass
class ImportReport:
    products: int = 0
    variants: int = 0
    created: int = 0
    updated: int = 0
    errors: list[LineError] = field(default_factory=list)
    error_count: int = 0
    notes: list[str] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)

    def add_error(self, error: LineError) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(error)


class ImportFailed(Exception):
    def __init__(self, report: ImportReport) -> None:
        super().__init__(f"{report.error_count} error(s)")
        self.report = report


Progress = Callable[[str, int], None]


async def import_catalog(
    path: Path,
    database: Database,
    *,
    mode: ImportMode = ImportMode.CREATE,
    file_format: FileFormat | None = None,
    currency: str | None = None,
    unit_of_work: Callable[[], UnitOfWork] | None = None,
    media_base: str | None = None,
    progress: Progress = lambda _stage, _done: None,
) -> ImportReport:
    """Import `path` whole or not at all; `progress(stage, n)` as products are read
    ("read") and written ("write"). Image URLs are https, or under `media_base`."""
    report = ImportReport()
    try:
        reading = read_catalog_file(
            path, file_format=file_format, currency=currency, progress=lambda n: progress("read", n)
        )
    except FileRefused as refused:
        report.add_error(LineError(0, None, str(refused)))
        raise ImportFailed(report) from None
    report.notes, report.ignored_columns = reading.notes, reading.ignored_columns
    report.errors, report.error_count = reading.errors, reading.error_count
    records = reading.products
    report.products = len(records)
    report.variants = sum(len(record.variants) for record in records)
    for record in records:
        for error in check_record(record, media_base=media_base):
            report.add_error(error)
    plan = await _plan(database, records, mode=mode, report=report)
    if report.error_count:
        raise ImportFailed(report)
    uow = (unit_of_work or (lambda: UnitOfWork(database)))()
    try:
        await _write(uow, records, plan, report=report, progress=progress)
    except IntegrityError:
        report.add_error(
            LineError(0, None, "a handle or SKU was taken while importing; nothing was imported")
        )
        raise ImportFailed(report) from None
    return report


def check_record(record: ProductRecord, *, media_base: str | None = None) -> list[LineError]:
    """What the catalog requires of a product whatever the file's format."""
    errors: list[LineError] = []
    for image in record.images:
        try:
            checked_image_url(image.url, media_base=media_base, pointer="")
        except Invalid:
            errors.append(
                LineError(
                    image.line, image.column, "not https (nor under the configured media base)"
                )
            )
    if not HANDLE.match(record.handle) or len(record.handle) > MAX_HANDLE:
        errors.append(
            LineError(
                record.line,
                record.columns.get("handle", "handle"),
                "a handle is lower-case letters and digits in words joined by single"
                f" hyphens, at most {MAX_HANDLE} characters",
            )
        )
    for variant in record.variants:
        if not SKU.match(variant.sku):
            errors.append(
                LineError(
                    variant.line,
                    variant.columns.get("sku", "sku"),
                    "a SKU starts with a letter or digit and holds letters, digits, '.', '_'"
                    " and '-'",
                )
            )
    return errors


@dataclass
class _Plan:
    categories: dict[str, uuid.UUID]
    existing: dict[str, Existing]


async def _plan(
    database: Database, records: Sequence[ProductRecord], *, mode: ImportMode, report: ImportReport
) -> _Plan:
    """Check the records against the catalog: categories, handles per mode, SKUs."""
    handles = [record.handle for record in records]
    wanted_categories = sorted({record.category for record in records if record.category})
    skus = _skus_in_file(records, report)
    async with database.read_session() as session:
        categories = {
            row.slug: row.id
            for row in await session.execute(
                select(Category.slug, Category.id).where(
                    Category.slug == any_(_texts(wanted_categories)),
                    Category.deleted_at.is_(None),
                )
            )
        }
        existing = {
            row.slug: Existing(product_id=row.id, slug=row.slug)
            for row in await session.execute(
                select(Product.id, Product.slug).where(
                    Product.slug == any_(_texts(handles)), Product.deleted_at.is_(None)
                )
            )
        }
        owners = {
            row.sku: row.product_id
            for row in await session.execute(
                select(func.lower(Variant.sku).label("sku"), Variant.product_id).where(
                    func.lower(Variant.sku) == any_(_texts(skus)),
                    Variant.deleted_at.is_(None),
                )
            )
        }
    for record in records:
        _check_mode(record, existing.get(record.handle), mode, report)
        if record.category and record.category not in categories:
            report.add_error(
                LineError(
                    record.line,
                    record.columns.get("category", "category"),
                    "no such category (its slug)",
                )
            )
        current = existing.get(record.handle)
        for variant in record.variants:
            owner = owners.get(variant.sku.lower())
            if owner is not None and (current is None or owner != current.product_id):
                report.add_error(
                    LineError(
                        variant.line,
                        variant.columns.get("sku", "sku"),
                        "this SKU belongs to another product's variant",
                    )
                )
    return _Plan(categories=categories, existing=existing)


def _texts(values: Collection[str]) -> BindParameter[list[str]]:
    """One array parameter (an IN list of a big file's handles would pass the driver's
    32,767 parameters)."""
    array: ARRAY[str] = ARRAY(Text())
    return bindparam(None, list(values), type_=array)  # type: ignore[arg-type]


def _skus_in_file(records: Sequence[ProductRecord], report: ImportReport) -> set[str]:
    """Every SKU (lower case), with an error for each repeated one."""
    first: dict[str, int] = {}
    for record in records:
        for variant in record.variants:
            key = variant.sku.lower()
            if key in first:
                report.add_error(
                    LineError(
                        variant.line,
                        variant.columns.get("sku", "sku"),
                        f"this SKU is also on line {first[key]} (case does not make SKUs"
                        " different)",
                    )
                )
            first.setdefault(key, variant.line)
    return set(first)


def _check_mode(
    record: ProductRecord, existing: Existing | None, mode: ImportMode, report: ImportReport
) -> None:
    column = record.columns.get("handle", "handle")
    if mode is ImportMode.CREATE and existing is not None:
        report.add_error(
            LineError(record.line, column, "a product has this handle (use --mode upsert)")
        )
    elif mode is ImportMode.UPDATE and existing is None:
        report.add_error(
            LineError(record.line, column, "no product has this handle (use --mode upsert)")
        )


async def _write(
    uow: UnitOfWork,
    records: Sequence[ProductRecord],
    plan: _Plan,
    *,
    report: ImportReport,
    progress: Progress,
) -> None:
    async with uow:
        now = utc_now()
        rows = CatalogRows()
        overwrites: list[Overwrite] = []
        changed: list[tuple[uuid.UUID, str, str]] = []
        for record in records:
            category_id = plan.categories.get(record.category) if record.category else None
            existing = plan.existing.get(record.handle)
            if existing is None:
                product_id = rows.add(record, category_id=category_id, at=now)
                changed.append((product_id, record.handle, "created"))
            else:
                overwrites.append(Overwrite(record, existing, category_id))
                changed.append((existing.product_id, record.handle, "updated"))
        connection = await _driver_connection(uow.session)
        # Existing products first: the SKUs of the variants they drop are free after it.
        for error in await overwrite_products(connection, overwrites, at=now):
            report.add_error(error)
        if report.error_count:
            raise ImportFailed(report)  # leaving the block uncommitted rolls back
        progress("write", len(overwrites))
        if len(rows):
            await rows.copy(connection)
            progress("write", len(rows))
        for product_id, slug, change in changed:
            publish_change(
                uow,
                ProductChanged(product_id=product_id, slugs=[slug], change=change),
                aggregate_id=product_id,
            )
        await uow.commit()
    report.created = sum(1 for *_, change in changed if change == "created")
    report.updated = len(changed) - report.created


async def _driver_connection(session: WriteSession) -> asyncpg.Connection:
    """The asyncpg connection under the session, inside the session's transaction (for
    COPY). The engine begins a transaction at its first statement: one is sent first, or
    the driver's statements would each commit on their own."""
    await session.execute(text("SELECT 1"))
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver: asyncpg.Connection = raw.driver_connection
    if not driver.is_in_transaction():  # never write outside the unit of work
        raise RuntimeError("the import's connection is not in a transaction")
    return driver
