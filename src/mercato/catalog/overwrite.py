"""An existing product overwritten by a catalog file's record (`catalog import --mode
update|upsert`): the file is the truth for the products it names.

Product fields, options and images are replaced. Variants are matched by SKU (whatever
the case): a matched variant keeps its id (carts, orders and reservations refer to it)
and gets the file's option values, prices and units on hand; a new SKU is a new variant;
a live variant the file no longer lists is deleted (soft: orders keep their reference).
Units on hand below what orders have reserved are refused, as `PUT .../stock` refuses
them. Then the product's read fields are recomputed (`summary.refresh_product`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import delete, insert, select, text, update

from mercato.catalog.models import (
    Product,
    ProductImage,
    ProductOption,
    Variant,
    VariantPrice,
    VariantStock,
)
from mercato.catalog.summary import refresh_product
from mercato.catalog.transfer.records import LineError, ProductRecord, VariantRecord
from mercato.platform.clock import utc_now
from mercato.platform.db.database import WriteSession
from mercato.platform.ids import uuid7


@dataclass(frozen=True, slots=True)
class Existing:
    product_id: uuid.UUID
    slug: str


async def overwrite_product(
    session: WriteSession,
    record: ProductRecord,
    *,
    existing: Existing,
    category_id: uuid.UUID | None,
) -> list[LineError]:
    """Overwrite one product (its row lock taken first); the lines whose units on hand
    fall below what is reserved (the caller rolls everything back on any)."""
    product_id = existing.product_id
    now = utc_now()
    await session.execute(select(Product.id).where(Product.id == product_id).with_for_update())
    await session.execute(
        update(Product)
        .where(Product.id == product_id)
        .values(
            name=record.name,
            description=record.description,
            product_type=record.product_type,
            tags=record.tags,
            category_id=category_id,
            attributes=record.attributes,
            status=record.status,
            version=Product.version + 1,
            updated_at=now,
        )
    )
    await _replace_options(session, product_id, record)
    variant_ids, errors = await _overwrite_variants(session, product_id, record, now=now)
    await session.execute(delete(ProductImage).where(ProductImage.product_id == product_id))
    if record.images:
        await session.execute(
            insert(ProductImage),
            [
                {
                    "id": uuid7(),
                    "product_id": product_id,
                    "variant_id": _image_variant(record, image.url, variant_ids),
                    "url": image.url,
                    "alt": image.alt,
                    "position": position,
                    "is_primary": position == 0,
                }
                for position, image in enumerate(record.images)
            ],
        )
    await refresh_product(session, product_id)
    return errors


async def _replace_options(
    session: WriteSession, product_id: uuid.UUID, record: ProductRecord
) -> None:
    await session.execute(delete(ProductOption).where(ProductOption.product_id == product_id))
    if record.options:
        await session.execute(
            insert(ProductOption),
            [
                {
                    "id": uuid7(),
                    "product_id": product_id,
                    "name": name,
                    "position": position,
                    "values": values,
                }
                for position, (name, values) in enumerate(
                    zip(record.options, record.option_values(), strict=True)
                )
            ],
        )


async def _overwrite_variants(
    session: WriteSession, product_id: uuid.UUID, record: ProductRecord, *, now: object
) -> tuple[dict[str, uuid.UUID], list[LineError]]:
    """Variant ids by SKU (lower case), and the stock errors."""
    live = (
        await session.execute(
            select(Variant.id, Variant.sku)
            .where(Variant.product_id == product_id, Variant.deleted_at.is_(None))
            .order_by(Variant.id)
            .with_for_update()
        )
    ).all()
    by_sku = {row.sku.lower(): row.id for row in live}
    wanted = {variant.sku.lower() for variant in record.variants}
    gone = [variant_id for sku, variant_id in by_sku.items() if sku not in wanted]
    if gone:
        # First, so that their option values and SKUs are free for the file's variants.
        await session.execute(
            update(Variant)
            .where(Variant.id.in_(gone))
            .values(deleted_at=now, updated_at=now, version=Variant.version + 1)
        )
    ids: dict[str, uuid.UUID] = {}
    errors: list[LineError] = []
    for position, variant in enumerate(record.variants):
        variant_id = by_sku.get(variant.sku.lower())
        fields = {
            "sku": variant.sku,
            "option_values": list(variant.option_values),
            "barcode": variant.barcode,
            "weight_grams": variant.weight_g,
            "status": variant.status,
            "position": position,
            "updated_at": now,
        }
        if variant_id is None:
            variant_id = uuid7()
            await session.execute(
                insert(Variant).values(id=variant_id, product_id=product_id, **fields)
            )
            await session.execute(
                insert(VariantStock).values(variant_id=variant_id, on_hand=variant.on_hand)
            )
        else:
            await session.execute(
                update(Variant)
                .where(Variant.id == variant_id)
                .values(version=Variant.version + 1, **fields)
            )
            if not await _set_on_hand(session, variant_id, variant.on_hand):
                errors.append(_below_reserved(variant))
        await session.execute(delete(VariantPrice).where(VariantPrice.variant_id == variant_id))
        await session.execute(
            insert(VariantPrice),
            [
                {
                    "variant_id": variant_id,
                    "currency": currency,
                    "amount_minor": amount,
                    "compare_at_minor": variant.compare_at_prices.get(currency),
                }
                for currency, amount in sorted(variant.prices.items())
            ],
        )
        ids[variant.sku.lower()] = variant_id
    return ids, errors


async def _set_on_hand(session: WriteSession, variant_id: uuid.UUID, on_hand: int) -> bool:
    """Units on hand, unless fewer than are reserved."""
    result = await session.execute(
        update(VariantStock)
        .where(VariantStock.variant_id == variant_id, VariantStock.reserved <= on_hand)
        .values(on_hand=on_hand, updated_at=text("now()"))
        .returning(VariantStock.variant_id)
    )
    return result.first() is not None


def _below_reserved(variant: VariantRecord) -> LineError:
    return LineError(
        variant.line,
        variant.columns.get("on_hand"),
        f"{variant.on_hand} on hand is fewer than the units orders have reserved",
    )


def _image_variant(
    record: ProductRecord, url: str, variant_ids: dict[str, uuid.UUID]
) -> uuid.UUID | None:
    """The first variant showing the image (the catalog links an image to one variant)."""
    for variant in record.variants:
        if variant.image_url == url:
            return variant_ids.get(variant.sku.lower())
    return None
