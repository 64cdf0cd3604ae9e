"""Catalog queries and writes of the use cases. Never commits: the unit of work does.

The public list and product pages have their own module (`reads.py`): they are the hot
path and are compiled once per shape. Row locks are taken here, one aggregate at a time.
"""

from __future__ import annotations

import uuid

from sqlalchemy import BigInteger, bindparam, cast, delete, exists, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mercato.catalog.errors import DuplicateVariant
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
from mercato.platform.db.database import WriteSession
from mercato.platform.db.sqlstates import UNIQUE_VIOLATION, sqlstate_of
from mercato.platform.errors import Conflict


class CatalogReads:
    """Queries that only read: usable on a read session or in a use case."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def category_id_by_slug(self, slug: str) -> uuid.UUID | None:
        return await self._session.scalar(
            select(Category.id).where(Category.slug == slug, Category.deleted_at.is_(None))
        )

    async def stock(
        self, variant_id: uuid.UUID, *, product_id: uuid.UUID | None = None
    ) -> VariantStock | None:
        """The stock of a live variant of a live product (of `product_id`, if given)."""
        query = (
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
        if product_id is not None:
            query = query.where(Variant.product_id == product_id)
        return await self._session.scalar(query)

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

    async def options_of(self, product_id: uuid.UUID) -> list[ProductOption]:
        rows = await self._session.scalars(
            select(ProductOption)
            .where(ProductOption.product_id == product_id)
            .order_by(ProductOption.position)
            .execution_options(populate_existing=True)
        )
        return list(rows)

    async def variant_for_update(
        self, *, product_id: uuid.UUID, variant_id: uuid.UUID
    ) -> Variant | None:
        """A live variant of this product (another product's variant is not found)."""
        return await self._session.scalar(
            select(Variant)
            .where(
                Variant.id == variant_id,
                Variant.product_id == product_id,
                Variant.deleted_at.is_(None),
            )
            .with_for_update()
            .execution_options(populate_existing=True)
        )

    async def put_price(
        self,
        variant_id: uuid.UUID,
        *,
        currency: str,
        amount_minor: int,
        compare_at_minor: int | None,
    ) -> None:
        statement = insert(VariantPrice).values(
            variant_id=variant_id,
            currency=currency,
            amount_minor=amount_minor,
            compare_at_minor=compare_at_minor,
        )
        await self._session.execute(
            statement.on_conflict_do_update(
                index_elements=[VariantPrice.variant_id, VariantPrice.currency],
                set_={
                    "amount_minor": statement.excluded.amount_minor,
                    "compare_at_minor": statement.excluded.compare_at_minor,
                },
            )
        )

    async def delete_price(self, variant_id: uuid.UUID, *, currency: str) -> bool:
        deleted = await self._session.scalar(
            delete(VariantPrice)
            .where(VariantPrice.variant_id == variant_id, VariantPrice.currency == currency)
            .returning(VariantPrice.currency)
        )
        return deleted is not None

    async def images_of(self, product_id: uuid.UUID) -> list[ProductImage]:
        rows = await self._session.scalars(
            select(ProductImage)
            .where(ProductImage.product_id == product_id)
            .order_by(ProductImage.position, ProductImage.id)
            .execution_options(populate_existing=True)
        )
        return list(rows)

    async def image(self, product_id: uuid.UUID, image_id: uuid.UUID) -> ProductImage | None:
        return await self._session.scalar(
            select(ProductImage).where(
                ProductImage.id == image_id, ProductImage.product_id == product_id
            )
        )

    async def clear_primary_image(self, product_id: uuid.UUID) -> None:
        await self._session.execute(
            update(ProductImage)
            .where(ProductImage.product_id == product_id, ProductImage.is_primary)
            .values(is_primary=False)
        )

    async def delete_image(self, image: ProductImage) -> None:
        await self._session.execute(delete(ProductImage).where(ProductImage.id == image.id))

    async def detach_images(self, variant_id: uuid.UUID) -> None:
        await self._session.execute(
            update(ProductImage)
            .where(ProductImage.variant_id == variant_id)
            .values(variant_id=None)
        )

    async def append_option_value(self, product_id: uuid.UUID, value: str) -> None:
        """Every variant of the product (deleted ones too: positions stay aligned) takes
        `value` for a new last option."""
        await self._session.execute(
            update(Variant)
            .where(Variant.product_id == product_id)
            .values(option_values=func.array_append(Variant.option_values, value))
        )

    async def option_values_in_use(self, product_id: uuid.UUID, position: int) -> set[str]:
        rows = await self._session.scalars(
            select(Variant.option_values[position + 1]).where(
                Variant.product_id == product_id, Variant.deleted_at.is_(None)
            )
        )
        return {value for value in rows if value is not None}

    async def respell_option_value(
        self, product_id: uuid.UUID, position: int, *, old: str, new: str
    ) -> None:
        await self._session.execute(
            text(
                "UPDATE catalog_variant SET option_values[:index] = :new"
                " WHERE product_id = :product_id AND option_values[:index] = :old"
            ),
            {"index": position + 1, "new": new, "old": old, "product_id": product_id},
        )

    async def delete_option(self, option: ProductOption) -> None:
        await self._session.execute(delete(ProductOption).where(ProductOption.id == option.id))
        await self._session.execute(
            update(ProductOption)
            .where(
                ProductOption.product_id == option.product_id,
                ProductOption.position > option.position,
            )
            .values(position=ProductOption.position - 1)
        )

    async def drop_option_value(self, product_id: uuid.UUID, position: int) -> None:
        """Every variant loses the value at `position`; 409 if two live ones then match."""
        try:
            async with self._session.begin_nested():
                await self._session.execute(
                    text(
                        "UPDATE catalog_variant SET option_values ="
                        " option_values[1:CAST(:index AS integer)]"
                        " || option_values[CAST(:index AS integer) + 2:]"
                        " WHERE product_id = :product_id"
                    ),
                    {"index": position, "product_id": product_id},
                )
        except IntegrityError as error:
            if sqlstate_of(error) == UNIQUE_VIOLATION:
                raise DuplicateVariant(
                    "Without this option two live variants would be the same."
                ) from None
            raise

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
