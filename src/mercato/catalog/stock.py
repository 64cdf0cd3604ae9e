"""Stock on hand: set it, or adjust it atomically. Never below what is reserved."""

from __future__ import annotations

import uuid

from mercato.catalog.changes import publish_change
from mercato.catalog.errors import InsufficientStock, ProductNotFound, StockLimitExceeded
from mercato.catalog.events import ProductChanged
from mercato.catalog.models import MAX_ON_HAND, Inventory
from mercato.catalog.repository import CatalogRepository
from mercato.platform.db.uow import UnitOfWork


async def set_stock(*, product_id: uuid.UUID, on_hand: int, uow: UnitOfWork) -> Inventory:
    async with uow:
        catalog = CatalogRepository(uow.session)
        if await catalog.product_for_update(product_id) is None:
            raise ProductNotFound()
        inventory = await catalog.set_on_hand(product_id, on_hand)
        if inventory is None:
            raise InsufficientStock("On hand cannot go below the units already reserved.")
        await _stock_changed(uow, catalog, product_id)
        await uow.commit()
    return inventory


async def adjust_stock(*, product_id: uuid.UUID, delta: int, uow: UnitOfWork) -> Inventory:
    """`on_hand += delta` in one statement (concurrent adjustments never lose updates)."""
    async with uow:
        catalog = CatalogRepository(uow.session)
        if await catalog.inventory(product_id) is None:
            raise ProductNotFound()
        inventory = await catalog.adjust_on_hand(product_id, delta)
        if inventory is None and delta > 0:
            raise StockLimitExceeded(f"On hand cannot go above {MAX_ON_HAND} units.")
        if inventory is None:
            raise InsufficientStock("On hand cannot go below the units already reserved.")
        await _stock_changed(uow, catalog, product_id)
        await uow.commit()
    return inventory


async def _stock_changed(
    uow: UnitOfWork, catalog: CatalogRepository, product_id: uuid.UUID
) -> None:
    row = await catalog.product_row(product_id=product_id, live_only=False)
    slugs = [row.slug] if row is not None else []
    publish_change(
        uow,
        ProductChanged(product_id=product_id, slugs=slugs, change="stock"),
        aggregate_id=product_id,
    )
