"""Catalog administration of products: create (with options, variants and images in one
request), change, soft-delete. One transaction each; every change publishes an event
(caches and other contexts follow the catalog by them)."""

from __future__ import annotations

import uuid

from mercato.catalog.changes import locked_product, product_changed, publish_change
from mercato.catalog.errors import DuplicateProduct, DuplicateVariant
from mercato.catalog.events import ProductChanged
from mercato.catalog.images import add_image_rows
from mercato.catalog.models import Product, ProductOption, Variant
from mercato.catalog.repository import CatalogReads, CatalogRepository
from mercato.catalog.summary import refresh_product
from mercato.catalog.variants import add_variant_rows, option_values_of, refuse_repeats
from mercato.catalog.write_schemas import ProductIn, ProductPatchIn
from mercato.platform.clock import utc_now
from mercato.platform.concurrency import ExpectedVersion
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.errors import Invalid
from mercato.platform.ids import uuid7


def unknown_category() -> Invalid:
    # The slug is not repeated: a detail never echoes what the client sent.
    return Invalid(
        "There is no live category with this slug.",
        errors=[{"in": "body", "pointer": "/category", "detail": "unknown category"}],
    )


async def category_id_of(catalog: CatalogReads, slug: str | None) -> uuid.UUID | None:
    """The live category with `slug` (None for no category); 422 if there is none."""
    if slug is None:
        return None
    category_id = await catalog.category_id_by_slug(slug)
    if category_id is None:
        raise unknown_category()
    return category_id


def new_product(product: ProductIn, *, category_id: uuid.UUID | None) -> Product:
    """A product row (its category already resolved)."""
    return Product(
        id=uuid7(),
        slug=product.slug,
        name=product.name,
        description=product.description,
        product_type=product.type,
        tags=list(product.tags),
        category_id=category_id,
        attributes=product.attributes,
        status=product.status,
    )


async def add_default_variant(
    catalog: CatalogRepository, product_id: uuid.UUID, product: ProductIn
) -> Variant:
    """The shorthand's variant (no options), for writers that build products one by one."""
    (variant,) = await add_variant_rows(catalog, product_id, product.variant_list(), options=[])
    return variant


async def create_product(
    product: ProductIn, *, uow: UnitOfWork, media_base: str | None = None
) -> uuid.UUID:
    """A product with its options, variants (prices, stock) and images; 409 if a live
    product has the slug or a live variant one of the SKUs; 422 for option values that do
    not fit the options, or SKUs or combinations repeated within the request."""
    variants = product.variant_list()
    options = [
        ProductOption(id=uuid7(), name=option.name, position=position, values=option.values)
        for position, option in enumerate(product.options)
    ]
    values = [
        option_values_of(variant.options, options, pointer=f"/variants/{index}/options")
        for index, variant in enumerate(variants)
    ]
    refuse_repeats(variants, values)
    async with uow:
        catalog = CatalogRepository(uow.session)
        row = new_product(product, category_id=await category_id_of(catalog, product.category))
        catalog.add(row)
        await catalog.flush_or_conflict(DuplicateProduct)
        for option in options:
            option.product_id = row.id
            catalog.add(option)
        created = await add_variant_rows(catalog, row.id, variants, options=options)
        by_sku = {variant.sku.casefold(): variant.id for variant in created}
        await add_image_rows(catalog, row.id, product.images, by_sku, media_base=media_base)
        await catalog.flush_or_conflict(DuplicateVariant)
        await refresh_product(uow.session, row.id)
        publish_change(
            uow,
            ProductChanged(product_id=row.id, slugs=[row.slug], change="created"),
            aggregate_id=row.id,
        )
        await uow.commit()
    return row.id


# Fields of the single-variant shorthand: they belong to the default variant.
DEFAULT_VARIANT_FIELDS = frozenset({"sku", "price_minor", "currency"})
_RENAMED = {"type": "product_type"}


async def update_product(
    *,
    product_id: uuid.UUID,
    changes: ProductPatchIn,
    expected: ExpectedVersion,
    uow: UnitOfWork,
) -> None:
    """Apply the fields sent in `changes` (null clears only the category and the type)."""
    sent = changes.sent_fields()
    async with uow:
        catalog = CatalogRepository(uow.session)
        product = await locked_product(catalog, product_id)
        expected.check(product.version)
        slugs = {product.slug}
        for name in sent - DEFAULT_VARIANT_FIELDS:
            if name == "category":
                product.category_id = await category_id_of(catalog, changes.category)
            else:
                setattr(product, _RENAMED.get(name, name), getattr(changes, name))
        if sent:
            await catalog.flush_or_conflict(DuplicateProduct)
            if sent & DEFAULT_VARIANT_FIELDS:
                await _change_default_variant(catalog, product.id, changes, sent)
            await product_changed(uow, product, slugs=slugs)
        await uow.commit()


async def _change_default_variant(
    catalog: CatalogRepository,
    product_id: uuid.UUID,
    changes: ProductPatchIn,
    sent: frozenset[str],
) -> None:
    """The shorthand fields applied to a product's only variant (422 with several)."""
    variant_ids = await catalog.live_variant_ids(product_id)
    if len(variant_ids) != 1:
        raise Invalid(
            "sku, price_minor and currency apply to a product with one variant;"
            " change its variants instead."
        )
    await catalog.change_default_variant(
        variant_ids[0],
        sku=changes.sku if "sku" in sent else None,
        price_minor=changes.price_minor if "price_minor" in sent else None,
        currency=changes.currency if "currency" in sent else None,
    )
    await catalog.flush_or_conflict(DuplicateVariant)


async def delete_product(*, product_id: uuid.UUID, uow: UnitOfWork) -> None:
    """Soft delete: invisible everywhere, slug and SKUs free again; the rows stay for the
    orders that reference them."""
    async with uow:
        catalog = CatalogRepository(uow.session)
        product = await locked_product(catalog, product_id)
        product.deleted_at = utc_now()
        product.updated_at = product.deleted_at
        product.version += 1
        await catalog.delete_variants_of(product.id, at=product.deleted_at)
        publish_change(
            uow,
            ProductChanged(product_id=product.id, slugs=[product.slug], change="deleted"),
            aggregate_id=product.id,
        )
        await uow.commit()
