"""Stock reservations for other contexts (orders): reserve, release and commit units of
variants inside the caller's unit of work, never committing it.

Rows are locked in variant-id order (then products in id order, `summary.py`), so two
checkouts over overlapping variants wait for each other instead of deadlocking. A
reservation is all or nothing: the locked rows are checked first and nothing is written
when any line falls short.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import TextClause, text

from mercato.catalog.cache import STOCK_LEVEL_CHANGE
from mercato.catalog.changes import publish_change
from mercato.catalog.errors import OutOfStock, StockNotReserved
from mercato.catalog.events import ProductChanged
from mercato.catalog.sellable import SellableVariant, StockLine
from mercato.catalog.summary import refresh_in_stock
from mercato.platform.db.database import WriteSession
from mercato.platform.db.uow import UnitOfWork

# Releasing and committing what was reserved must work whatever happened to the product
# since; reserving (`_HOLD`) needs a live variant of a live product.
_LOCK_ANY = text(
    """
    SELECT s.variant_id, s.on_hand, s.reserved, v.product_id, p.slug
    FROM catalog_variant_stock s
    JOIN catalog_variant v ON v.id = s.variant_id
    JOIN catalog_product p ON p.id = v.product_id
    WHERE s.variant_id = ANY(CAST(:variant_ids AS uuid[]))
    ORDER BY s.variant_id
    FOR UPDATE OF s
    """
)
# The live variants' stock rows locked, with what each sells for in :currency (what
# `sellable_variants` answers): a checkout prices the lines it reserves in the same statement.
_HOLD = text(
    """
    SELECT s.variant_id, s.on_hand, s.reserved, v.product_id, p.slug, p.category_id, v.sku,
           p.name, array_to_string(v.option_values, ' / ') AS title, pr.amount_minor,
           p.status = 'active' AND v.status = 'active' AS purchasable
    FROM catalog_variant_stock s
    JOIN catalog_variant v ON v.id = s.variant_id
    JOIN catalog_product p ON p.id = v.product_id
    LEFT JOIN catalog_variant_price pr ON pr.variant_id = v.id AND pr.currency = :currency
    WHERE s.variant_id = ANY(CAST(:variant_ids AS uuid[]))
      AND v.deleted_at IS NULL AND p.deleted_at IS NULL
    ORDER BY s.variant_id
    FOR UPDATE OF s
    """
)
_APPLY = """
UPDATE catalog_variant_stock AS s SET {change}, updated_at = now()
FROM unnest(CAST(:variant_ids AS uuid[]), CAST(:quantities AS integer[])) AS l(variant_id, q)
WHERE s.variant_id = l.variant_id
"""
_RESERVE = text(_APPLY.format(change="reserved = s.reserved + l.q"))
_RELEASE = text(_APPLY.format(change="reserved = s.reserved - l.q"))
_COMMIT = text(_APPLY.format(change="on_hand = s.on_hand - l.q, reserved = s.reserved - l.q"))


@dataclass(frozen=True, slots=True)
class _Locked:
    on_hand: int
    reserved: int
    product_id: uuid.UUID
    slug: str

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


def merged(lines: Sequence[StockLine]) -> dict[uuid.UUID, int]:
    """Units per variant, in variant-id order (a variant named twice counts once)."""
    quantities: dict[uuid.UUID, int] = defaultdict(int)
    for line in lines:
        quantities[line.variant_id] += line.quantity
    return dict(sorted(quantities.items()))


async def _lock(
    session: WriteSession, quantities: dict[uuid.UUID, int]
) -> dict[uuid.UUID, _Locked]:
    rows = await session.execute(_LOCK_ANY, {"variant_ids": list(quantities)})
    return {
        row.variant_id: _Locked(row.on_hand, row.reserved, row.product_id, row.slug) for row in rows
    }


async def _apply(
    uow: UnitOfWork,
    statement: TextClause,
    quantities: dict[uuid.UUID, int],
    locked: dict[uuid.UUID, _Locked],
    *,
    flipping: set[uuid.UUID],
) -> None:
    """Write the change, recompute `in_stock` of the products whose availability may have
    crossed zero, and publish a stock change per product: `stock` (public reads retire)
    where a variant's availability crossed zero, else `stock_level` (a checkout that
    leaves units on the shelf does not empty every cache)."""
    query = uow.queries.get(("catalog.reservations.apply", statement.text), lambda: statement)
    await uow.fetch(
        query, {"variant_ids": list(quantities), "quantities": list(quantities.values())}
    )
    await refresh_in_stock(uow.session, flipping)
    for product_id, slug in sorted({(row.product_id, row.slug) for row in locked.values()}):
        flipped = product_id in flipping
        publish_change(
            uow,
            ProductChanged(
                product_id=product_id,
                slugs=[slug],
                change="stock" if flipped else STOCK_LEVEL_CHANGE,
            ),
            aggregate_id=product_id,
            public_reads_changed=flipped,
        )


@dataclass(frozen=True, slots=True)
class HeldStock:
    """The stock rows of live variants locked for a reservation (`hold_stock`), and what
    each variant sells for: check them, then `reserve_held` (same unit of work)."""

    quantities: dict[uuid.UUID, int]
    locked: dict[uuid.UUID, _Locked]
    # The live variants among the lines (unknown or deleted ones are absent).
    variants: dict[uuid.UUID, SellableVariant]


async def hold_stock(
    uow: UnitOfWork, lines: Sequence[StockLine], *, currency: str | None
) -> HeldStock:
    """Lock the lines' stock rows (variant-id order) and, given a `currency`, price their
    variants in it, in one statement; nothing is reserved yet."""
    quantities = merged(lines)
    if not quantities:
        return HeldStock({}, {}, {})
    query = uow.queries.get("catalog.reservations.hold", lambda: _HOLD)
    rows = await uow.fetch(query, {"variant_ids": list(quantities), "currency": currency})
    locked = {}
    variants = {}
    for row in rows:
        variant_id = row["variant_id"]
        locked[variant_id] = _Locked(
            row["on_hand"], row["reserved"], row["product_id"], row["slug"]
        )
        if currency is None:
            continue
        variants[variant_id] = SellableVariant(
            variant_id=variant_id,
            product_id=row["product_id"],
            category_id=row["category_id"],
            sku=row["sku"],
            product_name=row["name"],
            title=row["title"],
            currency=currency,
            unit_price_minor=row["amount_minor"],
            available_quantity=max(row["on_hand"] - row["reserved"], 0),
            purchasable=row["purchasable"],
        )
    return HeldStock(quantities, locked, variants)


async def reserve_held(uow: UnitOfWork, held: HeldStock) -> None:
    """Reserve every held line or none: `OutOfStock` names the variants short of units (an
    unknown or deleted variant has none)."""
    quantities, locked = held.quantities, held.locked
    if not quantities:
        return
    short = [
        variant_id
        for variant_id, quantity in quantities.items()
        if variant_id not in locked or locked[variant_id].available < quantity
    ]
    if short:
        raise OutOfStock(variant_ids=short)
    # Only a reservation taking the last units may turn a product out of stock.
    flipping = {
        row.product_id
        for variant_id, row in locked.items()
        if row.available == quantities[variant_id]
    }
    await _apply(uow, _RESERVE, quantities, locked, flipping=flipping)


async def reserve_stock(uow: UnitOfWork, lines: Sequence[StockLine]) -> None:
    """Reserve every line or none (`hold_stock`, then `reserve_held`)."""
    await reserve_held(uow, await hold_stock(uow, lines, currency=None))


async def _reserved_lines(
    uow: UnitOfWork, lines: Sequence[StockLine]
) -> tuple[dict[uuid.UUID, int], dict[uuid.UUID, _Locked]]:
    quantities = merged(lines)
    locked = await _lock(uow.session, quantities) if quantities else {}
    short = [
        variant_id
        for variant_id, quantity in quantities.items()
        if variant_id not in locked or locked[variant_id].reserved < quantity
    ]
    if short:
        raise StockNotReserved(variant_ids=short)
    return quantities, locked


async def release_stock(uow: UnitOfWork, lines: Sequence[StockLine]) -> None:
    """Give reserved units back (an order canceled or failed): `reserved -= quantity`."""
    quantities, locked = await _reserved_lines(uow, lines)
    if not quantities:
        return
    # Only units coming back to a variant that had none available may bring a product back.
    flipping = {row.product_id for row in locked.values() if row.available <= 0}
    await _apply(uow, _RELEASE, quantities, locked, flipping=flipping)


async def commit_stock(uow: UnitOfWork, lines: Sequence[StockLine]) -> None:
    """Reserved units leave the shelf (an order paid): `on_hand` and `reserved` both drop;
    what is available does not change."""
    quantities, locked = await _reserved_lines(uow, lines)
    if not quantities:
        return
    await _apply(uow, _COMMIT, quantities, locked, flipping=set())
