"""What other contexts may know of a variant they sell: its price in a currency, whether
it can be bought, and how many units are available (`mercato.catalog`'s surface)."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mercato.catalog.models import Product, Variant, VariantPrice, VariantStock
from mercato.platform.errors import Invalid
from mercato.platform.money import is_known_currency


@dataclass(frozen=True, slots=True)
class StockLine:
    """Units of one variant to reserve, release or commit."""

    variant_id: uuid.UUID
    quantity: int

    def __post_init__(self) -> None:
        if self.quantity <= 0:
            raise ValueError("a stock line's quantity is positive")


@dataclass(frozen=True, slots=True)
class SellableVariant:
    variant_id: uuid.UUID
    product_id: uuid.UUID
    category_id: uuid.UUID | None
    sku: str
    product_name: str
    title: str  # option values joined, e.g. "M / Red"; "" for a default variant
    currency: str
    unit_price_minor: int | None  # None: no price in that currency
    available_quantity: int  # on_hand - reserved (internal; never shown to customers)
    purchasable: bool  # product and variant live and active


def _sellable_query() -> Select[Any]:
    price = and_(
        VariantPrice.variant_id == Variant.id,
        VariantPrice.currency == bindparam("currency"),
    )
    return (
        select(
            Variant.id,
            Variant.product_id,
            Product.category_id,
            Variant.sku,
            Product.name,
            func.array_to_string(Variant.option_values, " / ").label("title"),
            VariantPrice.amount_minor,
            (
                func.coalesce(VariantStock.on_hand, 0) - func.coalesce(VariantStock.reserved, 0)
            ).label("available"),
            and_(Product.status == "active", Variant.status == "active").label("purchasable"),
        )
        .join(Product, Product.id == Variant.product_id)
        .outerjoin(VariantPrice, price)
        .outerjoin(VariantStock, VariantStock.variant_id == Variant.id)
        .where(
            Variant.id.in_(bindparam("variant_ids", expanding=True)),
            Variant.deleted_at.is_(None),
            Product.deleted_at.is_(None),
        )
    )


_SELLABLE = _sellable_query()


async def sellable_variants(
    session: AsyncSession, variant_ids: Collection[uuid.UUID], *, currency: str
) -> dict[uuid.UUID, SellableVariant]:
    """The live variants among `variant_ids` with their price in `currency`, in one
    statement; unknown and deleted ids (or ids of a deleted product) are absent."""
    if not is_known_currency(currency):
        raise Invalid("The currency is not one the catalog accepts.")
    if not variant_ids:
        return {}
    rows = await session.execute(
        _SELLABLE,
        {"variant_ids": list(set(variant_ids)), "currency": currency},
    )
    return {
        row.id: SellableVariant(
            variant_id=row.id,
            product_id=row.product_id,
            category_id=row.category_id,
            sku=row.sku,
            product_name=row.name,
            title=row.title,
            currency=currency,
            unit_price_minor=row.amount_minor,
            available_quantity=max(int(row.available), 0),
            purchasable=bool(row.purchasable),
        )
        for row in rows
    }
