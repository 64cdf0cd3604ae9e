"""Existing products overwritten by a catalog file's records (`catalog import --mode
update|upsert`): the file is the truth for the products it names.

Product fields, options and images are replaced. Variants are matched by SKU (whatever
the case): a matched variant keeps its id (carts, orders and reservations refer to it)
and gets the file's option values, prices and units on hand; a new SKU is a new variant;
a live variant the file no longer lists is deleted (soft: orders keep their reference).
Units on hand below what orders have reserved are refused, as `PUT .../stock` refuses
them. Then the products' read fields are recomputed.

Set-based, whatever the number of products: a fixed number of statements (COPY into
temporary tables, then `UPDATE … FROM`), not a few per variant. Rows are locked products
first, then variants, each in id order, as the catalog's other writers lock them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
import orjson

from mercato.catalog.bulk import CatalogRows, product_option_keys, refresh_read_fields
from mercato.catalog.transfer.records import LineError, ProductRecord, VariantRecord


@dataclass(frozen=True, slots=True)
class Existing:
    product_id: uuid.UUID
    slug: str


@dataclass(frozen=True, slots=True)
class Overwrite:
    record: ProductRecord
    existing: Existing
    category_id: uuid.UUID | None


_SCRATCH = """
CREATE TEMP TABLE IF NOT EXISTS import_product (
    id uuid, name text, description text, product_type text, tags text[], category_id uuid,
    attributes jsonb, status text, option_keys text[]) ON COMMIT DROP;
CREATE TEMP TABLE IF NOT EXISTS import_variant (
    id uuid, sku text, option_values text[], barcode text, weight_grams integer,
    status text, position integer, on_hand integer) ON COMMIT DROP;
TRUNCATE import_product, import_variant;
"""
_UPDATE_PRODUCTS = """
UPDATE catalog_product AS p SET name = u.name, description = u.description,
    product_type = u.product_type, tags = u.tags, category_id = u.category_id,
    attributes = u.attributes, status = u.status, option_keys = u.option_keys,
    version = p.version + 1, updated_at = $1
FROM import_product AS u WHERE p.id = u.id
"""
_UPDATE_VARIANTS = """
UPDATE catalog_variant AS v SET sku = u.sku, option_values = u.option_values,
    barcode = u.barcode, weight_grams = u.weight_grams, status = u.status,
    position = u.position, version = v.version + 1, updated_at = $1
FROM import_variant AS u WHERE v.id = u.id
"""
# Units on hand, unless fewer than orders have reserved: the variants it did not set.
_SET_ON_HAND = """
UPDATE catalog_variant_stock AS s SET on_hand = u.on_hand, updated_at = $1
FROM import_variant AS u WHERE s.variant_id = u.id AND s.reserved <= u.on_hand
RETURNING s.variant_id
"""


async def overwrite_products(
    connection: asyncpg.Connection, overwrites: Sequence[Overwrite], *, at: dt.datetime
) -> list[LineError]:
    """Overwrite the products in the caller's transaction; the lines whose units on hand
    fall below what is reserved (the caller rolls everything back on any)."""
    if not overwrites:
        return []
    product_ids = sorted(item.existing.product_id for item in overwrites)
    await connection.execute(
        "SELECT id FROM catalog_product WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE",
        product_ids,
    )
    live = await connection.fetch(
        "SELECT id, product_id, lower(sku) AS sku FROM catalog_variant"
        " WHERE product_id = ANY($1::uuid[]) AND deleted_at IS NULL ORDER BY id FOR UPDATE",
        product_ids,
    )
    by_product: dict[uuid.UUID, dict[str, uuid.UUID]] = {}
    for row in live:
        by_product.setdefault(row["product_id"], {})[row["sku"]] = row["id"]
    rows = CatalogRows()
    products: list[tuple[object, ...]] = []
    matched: list[tuple[object, ...]] = []
    matched_lines: dict[uuid.UUID, VariantRecord] = {}
    gone: list[uuid.UUID] = []
    for item in overwrites:
        record, product_id = item.record, item.existing.product_id
        current = by_product.get(product_id, {})
        wanted = {variant.sku.lower(): variant for variant in record.variants}
        gone.extend(variant_id for sku, variant_id in current.items() if sku not in wanted)
        kept = {sku: variant_id for sku, variant_id in current.items() if sku in wanted}
        products.append(_product_row(item))
        rows.add_children(record, product_id=product_id, at=at, existing=kept)
        for position, variant in enumerate(record.variants):
            variant_id = kept.get(variant.sku.lower())
            if variant_id is not None:
                matched.append(_variant_row(variant_id, variant, position))
                matched_lines[variant_id] = variant
    await connection.execute(_SCRATCH)
    await connection.copy_records_to_table("import_product", records=products)
    await connection.copy_records_to_table("import_variant", records=matched)
    # Deleted first, so that their option values are free for the file's variants.
    await connection.execute(
        "UPDATE catalog_variant SET deleted_at = $2, updated_at = $2, version = version + 1"
        " WHERE id = ANY($1::uuid[])",
        gone,
        at,
    )
    await connection.execute(_UPDATE_PRODUCTS, at)
    await connection.execute(_UPDATE_VARIANTS, at)
    stocked = {row["variant_id"] for row in await connection.fetch(_SET_ON_HAND, at)}
    errors = [_below_reserved(v) for vid, v in matched_lines.items() if vid not in stocked]
    if errors:
        return sorted(errors, key=lambda error: error.line)
    await connection.execute(
        "DELETE FROM catalog_option WHERE product_id = ANY($1::uuid[])", product_ids
    )
    await connection.execute(
        "DELETE FROM catalog_image WHERE product_id = ANY($1::uuid[])", product_ids
    )
    await connection.execute(
        "DELETE FROM catalog_variant_price WHERE variant_id = ANY($1::uuid[])",
        list(matched_lines),
    )
    await rows.copy(connection)  # the children: options, new variants and stock, prices…
    await refresh_read_fields(connection, product_ids)
    return []


def _product_row(item: Overwrite) -> tuple[object, ...]:
    record = item.record
    active = [v.option_values for v in record.variants if v.status == "active"]
    return (
        item.existing.product_id,
        record.name,
        record.description,
        record.product_type,
        record.tags,
        item.category_id,
        orjson.dumps(record.attributes).decode(),
        record.status,
        product_option_keys(record.options, active),
    )


def _variant_row(
    variant_id: uuid.UUID, variant: VariantRecord, position: int
) -> tuple[object, ...]:
    return (
        variant_id,
        variant.sku,
        list(variant.option_values),
        variant.barcode,
        variant.weight_g,
        variant.status,
        position,
        variant.on_hand,
    )


def _below_reserved(variant: VariantRecord) -> LineError:
    return LineError(
        variant.line,
        variant.columns.get("on_hand"),
        f"{variant.on_hand} on hand is fewer than the units orders have reserved",
    )
