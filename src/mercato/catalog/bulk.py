"""Many products written at once, by COPY: the imports' new products and the generated
catalogs (`mercato seed catalog`) share this path.

Records become rows of every catalog table a product spans. The product's read fields
that the use cases keep current one product at a time (`summary.py`) are computed here
for the whole batch: `in_stock`, `option_keys` and the from-prices from the records, in
Python; the search document by one set-based statement after the COPY (`to_tsvector` is
PostgreSQL's), with the same weights as `summary.refresh_product`.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

import asyncpg
import orjson

from mercato.catalog.summary import option_keys
from mercato.catalog.transfer.records import ProductRecord
from mercato.platform.ids import uuid7

PRODUCT_COLUMNS = (
    "id",
    "slug",
    "name",
    "description",
    "product_type",
    "tags",
    "category_id",
    "attributes",
    "status",
    "in_stock",
    "option_keys",
    "created_at",
    "updated_at",
)
OPTION_COLUMNS = ("id", "product_id", "name", "position", "values")
VARIANT_COLUMNS = (
    "id",
    "product_id",
    "sku",
    "option_values",
    "barcode",
    "weight_grams",
    "status",
    "position",
    "created_at",
    "updated_at",
)
PRICE_COLUMNS = ("variant_id", "currency", "amount_minor", "compare_at_minor")
STOCK_COLUMNS = ("variant_id", "on_hand", "reserved")
IMAGE_COLUMNS = ("id", "product_id", "variant_id", "url", "alt", "position", "is_primary")
FROM_PRICE_COLUMNS = ("product_id", "currency", "from_minor")

# The search document of many products at once: names and SKUs weigh most (A), option
# values of active variants and tags next (B), the description last (C).
REFRESH_SEARCH = """
UPDATE catalog_product AS p SET search =
       setweight(to_tsvector('simple'::regconfig, p.name), 'A')
    || setweight(to_tsvector('simple'::regconfig, coalesce(v.skus, '')), 'A')
    || setweight(to_tsvector('simple'::regconfig,
           concat_ws(' ', v.facets, array_to_string(p.tags, ' '))), 'B')
    || setweight(to_tsvector('simple'::regconfig, p.description), 'C')
FROM (
    SELECT t.id,
           string_agg(cv.sku, ' ') AS skus,
           string_agg(array_to_string(cv.option_values, ' '), ' ')
               FILTER (WHERE cv.status = 'active') AS facets
    FROM unnest($1::uuid[]) AS t(id)
    LEFT JOIN catalog_variant cv ON cv.product_id = t.id AND cv.deleted_at IS NULL
    GROUP BY t.id
) AS v
WHERE p.id = v.id
"""


@dataclass
class CatalogRows:
    """Rows for each catalog table, built from records, COPYed table by table."""

    products: list[tuple[object, ...]] = field(default_factory=list)
    options: list[tuple[object, ...]] = field(default_factory=list)
    variants: list[tuple[object, ...]] = field(default_factory=list)
    prices: list[tuple[object, ...]] = field(default_factory=list)
    stock: list[tuple[object, ...]] = field(default_factory=list)
    images: list[tuple[object, ...]] = field(default_factory=list)
    from_prices: list[tuple[object, ...]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.products)

    def add(
        self,
        record: ProductRecord,
        *,
        category_id: uuid.UUID | None,
        at: dt.datetime,
        new_id: Callable[[], uuid.UUID] = uuid7,
    ) -> uuid.UUID:
        """The rows of one new product; its id."""
        product_id = new_id()
        active = [variant for variant in record.variants if variant.status == "active"]
        self.products.append(
            (
                product_id,
                record.handle,
                record.name,
                record.description,
                record.product_type,
                record.tags,
                category_id,
                orjson.dumps(record.attributes).decode(),
                record.status,
                any(variant.on_hand > 0 for variant in active),
                product_option_keys(record.options, [v.option_values for v in active]),
                at,
                at,
            )
        )
        self.add_children(record, product_id=product_id, at=at, new_id=new_id)
        self.from_prices.extend((product_id, *entry) for entry in from_prices(record))
        return product_id

    def add_children(
        self,
        record: ProductRecord,
        *,
        product_id: uuid.UUID,
        at: dt.datetime,
        new_id: Callable[[], uuid.UUID] = uuid7,
        existing: Mapping[str, uuid.UUID] | None = None,
    ) -> dict[str, uuid.UUID]:
        """The rows of a product's options, variants, prices, stock and images; variant ids
        by SKU (lower case). A variant in `existing` (by lower-case SKU) keeps its id and
        its variant and stock rows (the caller updates them); its prices are new rows."""
        existing = existing or {}
        for position, (name, values) in enumerate(
            zip(record.options, record.option_values(), strict=True)
        ):
            self.options.append((new_id(), product_id, name, position, values))
        variant_ids: dict[str, uuid.UUID] = {}
        image_variants: dict[str, uuid.UUID] = {}
        for position, variant in enumerate(record.variants):
            key = variant.sku.lower()
            variant_id = existing.get(key)
            if variant_id is None:
                variant_id = new_id()
                self.variants.append(
                    (
                        variant_id,
                        product_id,
                        variant.sku,
                        list(variant.option_values),
                        variant.barcode,
                        variant.weight_g,
                        variant.status,
                        position,
                        at,
                        at,
                    )
                )
                self.stock.append((variant_id, variant.on_hand, 0))
            variant_ids[key] = variant_id
            for currency, amount in sorted(variant.prices.items()):
                compare_at = variant.compare_at_prices.get(currency)
                self.prices.append((variant_id, currency, amount, compare_at))
            if variant.image_url:
                image_variants.setdefault(variant.image_url, variant_id)
        for position, image in enumerate(record.images):
            self.images.append(
                (
                    new_id(),
                    product_id,
                    image_variants.get(image.url),  # one variant per image in the catalog
                    image.url,
                    image.alt,
                    position,
                    position == 0,
                )
            )
        return variant_ids

    async def copy(self, connection: asyncpg.Connection) -> list[uuid.UUID]:
        """COPY every table (in the caller's transaction), then the search documents; the
        new products' ids."""
        for table, columns, records in (
            ("catalog_product", PRODUCT_COLUMNS, self.products),
            ("catalog_option", OPTION_COLUMNS, self.options),
            ("catalog_variant", VARIANT_COLUMNS, self.variants),
            ("catalog_variant_price", PRICE_COLUMNS, self.prices),
            ("catalog_variant_stock", STOCK_COLUMNS, self.stock),
            ("catalog_image", IMAGE_COLUMNS, self.images),
            ("catalog_product_price", FROM_PRICE_COLUMNS, self.from_prices),
        ):
            if records:
                await connection.copy_records_to_table(table, records=records, columns=columns)
        ids = [row[0] for row in self.products]
        await refresh_search(connection, ids)  # type: ignore[arg-type]
        return ids  # type: ignore[return-value]


def product_option_keys(names: Sequence[str], variants: Sequence[tuple[str, ...]]) -> list[str]:
    """`summary.option_keys`, a variant at a time, remembered: generated and imported
    catalogs repeat the same option combinations on many products (half of a seed's
    Python time went to percent-encoding the same pairs again)."""
    keys: set[str] = set()
    for values in variants:
        keys.update(_variant_option_keys(tuple(names), values))
    return sorted(keys)


@functools.lru_cache(maxsize=65_536)
def _variant_option_keys(names: tuple[str, ...], values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(option_keys(names, [values]))


def from_prices(record: ProductRecord) -> list[tuple[str, int]]:
    """(currency, least price of the active variants) per currency."""
    least: dict[str, int] = {}
    for variant in record.variants:
        if variant.status != "active":
            continue
        for currency, amount in variant.prices.items():
            least[currency] = min(amount, least.get(currency, amount))
    return sorted(least.items())


async def refresh_search(
    connection: asyncpg.Connection, product_ids: Collection[uuid.UUID]
) -> None:
    if product_ids:
        await connection.execute(REFRESH_SEARCH, list(product_ids))


# The other read fields of many products, as `summary.refresh_product` computes them one
# product at a time: from-prices over live active variants, in_stock from their stock.
REFRESH_FROM_PRICES = (
    "DELETE FROM catalog_product_price WHERE product_id = ANY($1::uuid[])",
    """
    INSERT INTO catalog_product_price (product_id, currency, from_minor)
    SELECT v.product_id, pr.currency, min(pr.amount_minor)
    FROM catalog_variant v JOIN catalog_variant_price pr ON pr.variant_id = v.id
    WHERE v.product_id = ANY($1::uuid[]) AND v.deleted_at IS NULL AND v.status = 'active'
    GROUP BY v.product_id, pr.currency
    """,
)
REFRESH_IN_STOCK = """
UPDATE catalog_product AS p SET in_stock = EXISTS (
    SELECT 1 FROM catalog_variant v JOIN catalog_variant_stock s ON s.variant_id = v.id
    WHERE v.product_id = p.id AND v.deleted_at IS NULL AND v.status = 'active'
      AND s.on_hand > s.reserved)
WHERE p.id = ANY($1::uuid[])
"""


async def refresh_read_fields(
    connection: asyncpg.Connection, product_ids: Collection[uuid.UUID]
) -> None:
    """From-prices, in_stock and search documents of existing products after a bulk change
    of their variants (their rows locked by the caller)."""
    ids = list(product_ids)
    if not ids:
        return
    for statement in REFRESH_FROM_PRICES:
        await connection.execute(statement, ids)
    await connection.execute(REFRESH_IN_STOCK, ids)
    await refresh_search(connection, ids)


CATALOG_TABLES: Sequence[str] = (
    "catalog_category",
    "catalog_product",
    "catalog_product_price",
    "catalog_option",
    "catalog_variant",
    "catalog_variant_price",
    "catalog_variant_stock",
    "catalog_image",
    # The names' vocabulary, which the products' insert trigger fills (search.py).
    "catalog_search_word",
)


async def vacuum_analyze(
    connection: asyncpg.Connection, tables: Sequence[str] = CATALOG_TABLES
) -> None:
    """`VACUUM (ANALYZE)` what a bulk load wrote: fresh statistics for the planner (the list's
    plans depend on them) and a visibility map for index-only scans. Outside any
    transaction, as VACUUM requires."""
    for table in tables:
        await connection.execute(f"VACUUM (ANALYZE) {table}")
