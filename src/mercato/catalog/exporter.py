"""`mercato catalog export FILE`: the catalog's products as records, in pages of products
(keyset on the id), each page read in a constant number of statements; the writers
(`transfer/`) turn them into our CSV/JSONL or a Shopify product CSV. What an export
writes, an import reads back (`--mode upsert` overwrites the same products)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from typing import Any

from sqlalchemy import select

from mercato.catalog.models import (
    Category,
    Product,
    ProductImage,
    ProductOption,
    Variant,
    VariantPrice,
    VariantStock,
)
from mercato.catalog.transfer.records import ImageRecord, ProductRecord, VariantRecord
from mercato.platform.db.database import Database

PAGE = 500


async def price_currencies(database: Database) -> list[str]:
    """Every currency a variant is priced in (the columns of our CSV)."""
    async with database.read_session() as session:
        found = await session.scalars(select(VariantPrice.currency).distinct())
        return sorted(found)


async def export_pages(
    database: Database, *, statuses: Sequence[str] = ("draft", "active", "archived")
) -> AsyncIterator[list[ProductRecord]]:
    """Live products with the given statuses, oldest id first, a page at a time."""
    after: uuid.UUID | None = None
    while True:
        async with database.read_session() as session:
            query = (
                select(Product, Category.slug.label("category"))
                .outerjoin(Category, Category.id == Product.category_id)
                .where(Product.deleted_at.is_(None), Product.status.in_(list(statuses)))
                .order_by(Product.id)
                .limit(PAGE)
            )
            if after is not None:
                query = query.where(Product.id > after)
            page = (await session.execute(query)).all()
            if not page:
                return
            ids = [row.Product.id for row in page]
            children = await _children(session, ids)
        yield [_record(row.Product, row.category, children) for row in page]
        after = ids[-1]


async def _children(session: Any, ids: list[uuid.UUID]) -> dict[str, dict[uuid.UUID, list[Any]]]:
    """Options, variants (with stock), prices and images of a page of products: one
    statement each."""
    found: dict[str, dict[uuid.UUID, list[Any]]] = defaultdict(lambda: defaultdict(list))
    options = await session.execute(
        select(ProductOption)
        .where(ProductOption.product_id.in_(ids))
        .order_by(ProductOption.product_id, ProductOption.position)
    )
    for (option,) in options:
        found["options"][option.product_id].append(option)
    variants = await session.execute(
        select(Variant, VariantStock.on_hand)
        .outerjoin(VariantStock, VariantStock.variant_id == Variant.id)
        .where(Variant.product_id.in_(ids), Variant.deleted_at.is_(None))
        .order_by(Variant.product_id, Variant.position, Variant.id)
    )
    variant_ids = []
    for variant, on_hand in variants:
        found["variants"][variant.product_id].append((variant, on_hand or 0))
        variant_ids.append(variant.id)
    prices = await session.execute(
        select(VariantPrice).where(VariantPrice.variant_id.in_(variant_ids))
    )
    for (price,) in prices:
        found["prices"][price.variant_id].append(price)
    images = await session.execute(
        select(ProductImage)
        .where(ProductImage.product_id.in_(ids))
        .order_by(ProductImage.product_id, ProductImage.position, ProductImage.id)
    )
    for (image,) in images:
        found["images"][image.product_id].append(image)
    return found


def _record(
    product: Product, category: str | None, children: dict[str, dict[uuid.UUID, list[Any]]]
) -> ProductRecord:
    record = ProductRecord(
        handle=product.slug,
        name=product.name,
        description=product.description,
        status=product.status,
        product_type=product.product_type,
        category=category,
        tags=list(product.tags),
        attributes=dict(product.attributes),
        options=[option.name for option in children["options"][product.id]],
    )
    images = children["images"][product.id]
    image_of = {image.variant_id: image.url for image in images if image.variant_id}
    for variant, on_hand in children["variants"][product.id]:
        prices = children["prices"][variant.id]
        record.variants.append(
            VariantRecord(
                sku=variant.sku,
                option_values=tuple(variant.option_values),
                prices={price.currency: price.amount_minor for price in prices},
                compare_at_prices={
                    price.currency: price.compare_at_minor
                    for price in prices
                    if price.compare_at_minor is not None
                },
                on_hand=on_hand,
                barcode=variant.barcode,
                weight_g=variant.weight_grams,
                status=variant.status,
                image_url=image_of.get(variant.id),
            )
        )
    record.images = [ImageRecord(url=image.url, alt=image.alt) for image in images]
    return record
