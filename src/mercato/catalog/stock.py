"""Stock on hand of a variant: set it, or adjust it atomically. Never below what is
reserved. The stock row is written first, then the product's `in_stock` is recomputed
under its row lock (the catalog's lock order, `summary.py`)."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from mercato.catalog.changes import publish_change
from mercato.catalog.errors import InsufficientStock, StockLimitExceeded, VariantNotFound
from mercato.catalog.events import ProductChanged
from mercato.catalog.models import MAX_ON_HAND, Product, Variant, VariantStock
from mercato.catalog.repository import CatalogRepository
from mercato.catalog.summary import refresh_in_stock
from mercato.platform.db.uow import UnitOfWork


async def set_stock(
    *,
    variant_id: uuid.UUID,
    on_hand: int,
    uow: UnitOfWork,
    product_id: uuid.UUID | None = None,
) -> VariantStock:
    async with uow:
        catalog = CatalogRepository(uow.session)
        if await catalog.stock(variant_id, product_id=product_id) is None:
            raise VariantNotFound()
        stock = await catalog.set_on_hand(variant_id, on_hand)
        if stock is None:
            raise InsufficientStock("On hand cannot go below the units already reserved.")
        await _stock_changed(uow, variant_id)
        await uow.commit()
    return stock


async def adjust_stock(
    *,
    variant_id: uuid.UUID,
    delta: int,
    uow: UnitOfWork,
    product_id: uuid.UUID | None = None,
) -> VariantStock:
    """`on_hand += delta` in one statement (concurrent adjustments never lose updates)."""
    async with uow:
        catalog = CatalogRepository(uow.session)
        if await catalog.stock(variant_id, product_id=product_id) is None:
            raise VariantNotFound()
        stock = await catalog.adjust_on_hand(variant_id, delta)
        if stock is None and delta > 0:
            raise StockLimitExceeded(f"On hand cannot go above {MAX_ON_HAND} units.")
        if stock is None:
            raise InsufficientStock("On hand cannot go below the units already reserved.")
        await _stock_changed(uow, variant_id)
        await uow.commit()
    return stock


async def _stock_changed(uow: UnitOfWork, variant_id: uuid.UUID) -> None:
    query = (
        select(Product.id, Product.slug)
        .join(Variant, Variant.product_id == Product.id)
        .where(Variant.id == variant_id)
    )
    row = (await uow.session.execute(query)).one()
    await refresh_in_stock(uow.session, [row.id])
    publish_change(
        uow,
        ProductChanged(product_id=row.id, slugs=[row.slug], change="stock"),
        aggregate_id=row.id,
    )
