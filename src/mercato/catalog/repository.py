"""Catalog queries and writes of the use cases. Never commits: the unit of work does.

The public list and product pages have their own module (`reads.py`): they are the hot
path and are compiled once per shape. Row locks are taken here, one aggregate at a time.
"""

from __future__ import annotations

import uuid

from sqlalchemy import BigInteger, bindparam, cast, delete, exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mercato.catalog.models import (
    MAX_ON_HAND,
    Category,
    Product,
    ProductImage,
    ProductOption,
    Variant,
    VariantPrice,
    VariantStock,
)
from mercato.catalog.reads import product_lookup
from mercato.platform.db.database import WriteSession
from mercato.platform.db.sqlstates import UNIQUE_VIOLATION, sqlstate_of
from mercato.platform.errors import Conflict
from mercato.platform.listing import AnyRow


class CatalogReads:
    """Queries that only read: usable on a read session or in a use case."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def product_row(
        self, *, product_id: uuid.UUID | None = None, slug: str | None = None, live_only: bool
    ) -> AnyRow | None:
        query = product_lookup(by_id=product_id is not None, live_only=live_only)
        result = await self._session.execute(query, {"product_id": product_id, "slug": slug})
        return result.first()

    async def category_id_by_slug(self, slug: str) -> uuid.UUID | None:
        return await self._session.scalar(
            select(Category.id).where(Category.slug == slug, Category.deleted_at.is_(None))
        )

    async def stock(self, variant_id: uuid.UUID) -> VariantStock | None:
        """The stock of a live variant of a live product."""
        return await self._session.scalar(
            select(VariantStock)
            .join(Variant, Variant.id == VariantStock.variant_id)
            .join(Product, Product.id == Variant.product_id)
            .where(
                VariantStock.variant_id == variant_id,
                Variant.deleted_at.is_(None),
                Product.deleted_at.is_(None),
            )
            .execution_options(populate_existing=True)
        )

    async def live_variant_ids(self, product_id: uuid.UUID) -> list[uuid.UUID]:
        """The live variants of a live product, in display order."""
        rows = await self._session.scalars(
            select(Variant.id)
            .join(Product, Product.id == Variant.product_id)
            .where(
                Variant.product_id == product_id,
                Variant.deleted_at.is_(None),
                Product.deleted_at.is_(None),
            )
            .order_by(Variant.position, Variant.id)
        )
        return list(rows)

    async def live_categories(self) -> list[Category]:
        rows = await self._session.scalars(
            select(Category)
            .where(Category.deleted_at.is_(None))
            .order_by(Category.path, Category.position)
        )
        return list(rows)

    async def category_by_slug(self, slug: str) -> Category | None:
        return await self._session.scalar(
            select(Category).where(Category.slug == slug, Category.deleted_at.is_(None))
        )

    async def category_in_use(self, category_id: uuid.UUID) -> bool:
        used = await self._session.scalar(
            select(
                exists().where(Product.category_id == category_id, Product.deleted_at.is_(None))
                | exists().where(Category.parent_id == category_id, Category.deleted_at.is_(None))
            )
        )
        return bool(used)


class CatalogRepository(CatalogReads):
    """Reads and writes, on the use case's session (never commits)."""

    def __init__(self, session: WriteSession) -> None:
        super().__init__(session)

    def add(
        self,
        row: Product
        | Category
        | ProductOption
        | Variant
        | VariantPrice
        | VariantStock
        | ProductImage,
    ) -> None:
        self._session.add(row)

    async def flush_or_conflict(self, conflict: type[Conflict]) -> None:
        """Write pending changes now; a unique index (live SKU, slug) refusing them raises
        `conflict` (a 409)."""
        try:
            await self._session.flush()
        except IntegrityError as error:
            if sqlstate_of(error) == UNIQUE_VIOLATION:
                raise conflict() from None
            raise

    async def product_for_update(self, product_id: uuid.UUID) -> Product | None:
        return await self._session.scalar(
            select(Product)
            .where(Product.id == product_id, Product.deleted_at.is_(None))
            .with_for_update()
            .execution_options(populate_existing=True)
        )

    async def set_on_hand(self, variant_id: uuid.UUID, on_hand: int) -> VariantStock | None:
        """Set the stock unless that goes below what is reserved (None then)."""
        return await self._session.scalar(
            update(VariantStock)
            .where(VariantStock.variant_id == variant_id, VariantStock.reserved <= on_hand)
            .values(on_hand=on_hand, updated_at=func.now())
            .returning(VariantStock)
            .execution_options(populate_existing=True)
        )

    async def adjust_on_hand(self, variant_id: uuid.UUID, delta: int) -> VariantStock | None:
        """Atomic `on_hand += delta`, refused (None) below what is reserved, below 0 or above
        `MAX_ON_HAND`; compared in 64 bits, so no sum overflows the 32-bit column."""
        delta_64 = bindparam("delta", delta, type_=BigInteger())
        adjusted = cast(VariantStock.on_hand, BigInteger) + delta_64
        return await self._session.scalar(
            update(VariantStock)
            .where(
                VariantStock.variant_id == variant_id,
                adjusted >= VariantStock.reserved,
                adjusted >= 0,
                adjusted <= MAX_ON_HAND,
            )
            .values(on_hand=VariantStock.on_hand + delta, updated_at=func.now())
            .returning(VariantStock)
            .execution_options(populate_existing=True)
        )

    async def change_default_variant(
        self,
        variant_id: uuid.UUID,
        *,
        sku: str | None,
        price_minor: int | None,
        currency: str | None,
    ) -> None:
        """The single-variant shorthand: a new SKU, and the price replaced by one in the
        given (or its current) currency."""
        variant = await self._session.get(Variant, variant_id, with_for_update=True)
        assert variant is not None
        if sku is not None:
            variant.sku = sku
            variant.version += 1
            variant.updated_at = func.now()
        if price_minor is None and currency is None:
            return
        prices = list(
            await self._session.scalars(
                select(VariantPrice)
                .where(VariantPrice.variant_id == variant_id)
                .order_by(VariantPrice.currency)
            )
        )
        current = prices[0] if prices else None
        amount = (
            price_minor if price_minor is not None else (current.amount_minor if current else 0)
        )
        code = currency or (current.currency if current else "EUR")
        await self._session.execute(
            delete(VariantPrice).where(VariantPrice.variant_id == variant_id)
        )
        self._session.add(VariantPrice(variant_id=variant_id, currency=code, amount_minor=amount))

    async def delete_variants_of(self, product_id: uuid.UUID, *, at: object) -> None:
        await self._session.execute(
            update(Variant)
            .where(Variant.product_id == product_id, Variant.deleted_at.is_(None))
            .values(deleted_at=at, updated_at=at, version=Variant.version + 1)
        )

    async def category_for_update(self, category_id: uuid.UUID) -> Category | None:
        return await self._session.scalar(
            select(Category)
            .where(Category.id == category_id, Category.deleted_at.is_(None))
            .with_for_update()
            .execution_options(populate_existing=True)
        )

    async def move_subtree(self, *, old_prefix: str, new_prefix: str) -> None:
        await self._session.execute(
            update(Category)
            .where(Category.path.like(f"{old_prefix}%"))
            .values(
                path=func.concat(new_prefix, func.substr(Category.path, len(old_prefix) + 1)),
                updated_at=func.now(),
            )
        )
