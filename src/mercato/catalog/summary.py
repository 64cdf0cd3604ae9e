"""A product's denormalised read fields, kept current by every write that changes them, in
its transaction: `in_stock` (any live active variant with units available), its option
keys (what option filters match), its search document and its from-price per currency.

Lock order (no deadlocks between stock writers): stock rows first, in variant-id order,
then product rows, in product-id order. `in_stock` is recomputed only after the product
rows are locked, by a statement that starts after the lock is granted: whichever of two
concurrent stock changes locks last sees the other's committed units.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Sequence
from itertools import combinations
from urllib.parse import quote

from sqlalchemy import select, text

from mercato.catalog.models import Product
from mercato.platform.db.database import WriteSession

_REFRESH_IN_STOCK = text(
    """
    UPDATE catalog_product AS p SET in_stock = x.available
    FROM (
        SELECT t.id, EXISTS (
            SELECT 1 FROM catalog_variant v
            JOIN catalog_variant_stock s ON s.variant_id = v.id
            WHERE v.product_id = t.id AND v.deleted_at IS NULL AND v.status = 'active'
              AND s.on_hand > s.reserved) AS available
        FROM unnest(CAST(:product_ids AS uuid[])) AS t(id)
    ) AS x
    WHERE p.id = x.id AND p.in_stock IS DISTINCT FROM x.available
    """
)

_REFRESH_FROM_PRICES = (
    text("DELETE FROM catalog_product_price WHERE product_id = ANY(CAST(:product_ids AS uuid[]))"),
    text(
        """
        INSERT INTO catalog_product_price (product_id, currency, from_minor)
        SELECT v.product_id, pr.currency, min(pr.amount_minor)
        FROM catalog_variant v JOIN catalog_variant_price pr ON pr.variant_id = v.id
        WHERE v.product_id = ANY(CAST(:product_ids AS uuid[]))
          AND v.deleted_at IS NULL AND v.status = 'active'
        GROUP BY v.product_id, pr.currency
        """
    ),
)

# Names and SKUs weigh most, then option values and tags, then the description.
_REFRESH_DOCUMENT = text(
    """
    UPDATE catalog_product AS p SET
        option_keys = CAST(:option_keys AS text[]),
        search = setweight(to_tsvector('simple'::regconfig, p.name), 'A')
            || setweight(to_tsvector('simple'::regconfig, CAST(:skus AS text)), 'A')
            || setweight(to_tsvector('simple'::regconfig, CAST(:facets AS text)), 'B')
            || setweight(to_tsvector('simple'::regconfig, p.description), 'C')
    WHERE p.id = :product_id
    """
)

_LIVE_VARIANTS = text(
    """
    SELECT v.sku, v.option_values, v.status = 'active' AS active
    FROM catalog_variant v WHERE v.product_id = :product_id AND v.deleted_at IS NULL
    """
)
_OPTION_NAMES = text(
    "SELECT name FROM catalog_option WHERE product_id = :product_id ORDER BY position"
)


def option_pair(name: str, value: str) -> str:
    """One option value as a key part: case-folded, `=` and `&` percent-encoded (they
    join the parts)."""
    return f"{quote(name.casefold(), safe='')}={quote(value.casefold(), safe='')}"


def option_key(pairs: Iterable[tuple[str, str]]) -> str:
    """The key an option filter looks up: its pairs, sorted, joined by `&`."""
    return "&".join(sorted(option_pair(name, value) for name, value in pairs))


def option_keys(names: Sequence[str], variants: Iterable[Sequence[str]]) -> list[str]:
    """Every key the variants offer: each non-empty subset of each variant's option values
    (at most 7 per variant with 3 options), so a filter on any options is one key."""
    keys: set[str] = set()
    for values in variants:
        pairs = list(zip(names, values, strict=False))
        for size in range(1, len(pairs) + 1):
            keys.update(option_key(subset) for subset in combinations(pairs, size))
    return sorted(keys)


async def lock_products(session: WriteSession, product_ids: Collection[uuid.UUID]) -> None:
    """Lock the product rows, in id order (the second step of the catalog's lock order)."""
    await session.execute(
        text(
            "SELECT id FROM catalog_product WHERE id = ANY(CAST(:ids AS uuid[]))"
            " ORDER BY id FOR UPDATE"
        ),
        {"ids": sorted(set(product_ids))},
    )


async def refresh_in_stock(session: WriteSession, product_ids: Collection[uuid.UUID]) -> None:
    """Recompute `in_stock` of the products after a stock change (locks them first)."""
    if not product_ids:
        return
    ids = sorted(set(product_ids))
    await lock_products(session, ids)
    await session.execute(_REFRESH_IN_STOCK, {"product_ids": ids})


async def refresh_product(session: WriteSession, product_id: uuid.UUID) -> None:
    """Recompute every read field of one product (after a change to its variants,
    options, prices, tags or names). The caller holds the product's row lock."""
    names = list(await session.scalars(_OPTION_NAMES, {"product_id": product_id}))
    variants = (await session.execute(_LIVE_VARIANTS, {"product_id": product_id})).all()
    active = [row for row in variants if row.active]
    tags = await session.scalar(select(Product.tags).where(Product.id == product_id)) or []
    facets = [value for row in active for value in row.option_values] + list(tags)
    await session.execute(
        _REFRESH_DOCUMENT,
        {
            "product_id": product_id,
            "option_keys": option_keys(names, (row.option_values for row in active)),
            "skus": " ".join(row.sku for row in variants),
            "facets": " ".join(facets),
        },
    )
    for statement in _REFRESH_FROM_PRICES:
        await session.execute(statement, {"product_ids": [product_id]})
    await session.execute(_REFRESH_IN_STOCK, {"product_ids": [product_id]})
