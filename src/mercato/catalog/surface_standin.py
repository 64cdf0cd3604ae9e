"""TEMPORARY stand-in of catalog's stock surface (the contract in the variants work), on
today's tables (a product is its own single variant), so that orders can be built and
tested before the variants branch lands. Replaced by the real surface at that merge."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mercato.catalog.changes import publish_change
from mercato.catalog.events import ProductChanged
from mercato.catalog.models import Inventory, Product
from mercato.platform import errors
from mercato.platform.db.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class StockLine:
    variant_id: uuid.UUID
    quantity: int


@dataclass(frozen=True, slots=True)
class SellableVariant:
    variant_id: uuid.UUID
    product_id: uuid.UUID
    category_id: uuid.UUID | None
    sku: str
    product_name: str
    title: str
    currency: str
    unit_price_minor: int | None
    available_quantity: int
    purchasable: bool


class OutOfStock(errors.Conflict):
    code = "out-of-stock"
    title = "Not enough stock for this order"

    def __init__(self, detail: str | None = None, *, variant_ids: Sequence[uuid.UUID] = ()) -> None:
        super().__init__(detail)
        self.variant_ids = list(variant_ids)


class StockNotReserved(errors.Conflict):
    code = "stock-not-reserved"
    title = "Fewer units are reserved than asked"


async def sellable_variants(
    session: AsyncSession, variant_ids: Collection[uuid.UUID], *, currency: str
) -> dict[uuid.UUID, SellableVariant]:
    if not variant_ids:
        return {}
    rows = await session.execute(
        select(Product, Inventory)
        .join(Inventory, Inventory.product_id == Product.id)
        .where(Product.id.in_(list(variant_ids)), Product.deleted_at.is_(None))
    )
    found = {}
    for product, inventory in rows:
        found[product.id] = SellableVariant(
            variant_id=product.id,
            product_id=product.id,
            category_id=product.category_id,
            sku=product.sku,
            product_name=product.name,
            title="",
            currency=currency,
            unit_price_minor=product.price_minor if product.currency == currency else None,
            available_quantity=inventory.on_hand - inventory.reserved,
            purchasable=product.status == "active",
        )
    return found


def _merged(lines: Sequence[StockLine]) -> list[tuple[uuid.UUID, int]]:
    totals: dict[uuid.UUID, int] = {}
    for line in lines:
        totals[line.variant_id] = totals.get(line.variant_id, 0) + line.quantity
    return sorted(totals.items())


async def reserve_stock(uow: UnitOfWork, lines: Sequence[StockLine]) -> None:
    short = []
    for variant_id, quantity in _merged(lines):
        done = await uow.session.scalar(
            update(Inventory)
            .where(Inventory.product_id == variant_id)
            .where(Inventory.on_hand - Inventory.reserved >= quantity)
            .values(reserved=Inventory.reserved + quantity)
            .returning(Inventory.product_id)
        )
        if done is None:
            short.append(variant_id)
        else:
            _changed(uow, variant_id)
    if short:
        raise OutOfStock("Not enough stock for a line of this order.", variant_ids=short)


async def release_stock(uow: UnitOfWork, lines: Sequence[StockLine]) -> None:
    await _take_back(uow, lines, commit=False)


async def commit_stock(uow: UnitOfWork, lines: Sequence[StockLine]) -> None:
    await _take_back(uow, lines, commit=True)


async def _take_back(uow: UnitOfWork, lines: Sequence[StockLine], *, commit: bool) -> None:
    for variant_id, quantity in _merged(lines):
        values = {"reserved": Inventory.reserved - quantity}
        if commit:
            values["on_hand"] = Inventory.on_hand - quantity
        done = await uow.session.scalar(
            update(Inventory)
            .where(Inventory.product_id == variant_id, Inventory.reserved >= quantity)
            .values(**values)
            .returning(Inventory.product_id)
        )
        if done is None:
            raise StockNotReserved()
        _changed(uow, variant_id)


def _changed(uow: UnitOfWork, variant_id: uuid.UUID) -> None:
    publish_change(
        uow,
        ProductChanged(product_id=variant_id, slugs=[], change="stock"),
        aggregate_id=variant_id,
    )
