"""Catalog administration of products: create, change, soft-delete. One transaction each;
every change publishes an event (caches and other contexts follow the catalog by them)."""

from __future__ import annotations

import uuid

from mercato.catalog.changes import publish_change
from mercato.catalog.errors import DuplicateProduct, DuplicateVariant, ProductNotFound
from mercato.catalog.events import ProductChanged
from mercato.catalog.models import Product, Variant, VariantPrice, VariantStock
from mercato.catalog.repository import CatalogReads, CatalogRepository
from mercato.catalog.schemas import ProductIn, ProductPatchIn
from mercato.catalog.summary import refresh_product
from mercato.platform.clock import utc_now
from mercato.platform.concurrency import ExpectedVersion
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.errors import Invalid
from mercato.platform.ids import uuid7


def unknown_category(slug: str) -> Invalid:
    return Invalid(
        f"There is no category {slug!r}.",
        errors=[{"in": "body", "pointer": "/category", "detail": "unknown category"}],
    )


async def category_id_of(catalog: CatalogReads, slug: str | None) -> uuid.UUID | None:
    """The live category with `slug` (None for no category); 422 if there is none."""
    if slug is None:
        return None
    category_id = await catalog.category_id_by_slug(slug)
    if category_id is None:
        raise unknown_category(slug)
    return category_id


def new_product(product: ProductIn, *, category_id: uuid.UUID | None) -> Product:
    """A product row (its category already resolved)."""
    return Product(
        id=uuid7(),
        slug=product.slug,
        name=product.name,
        description=product.description,
        category_id=category_id,
        attributes=product.attributes,
        status=product.status,
    )


async def add_default_variant(
    catalog: CatalogRepository, product_id: uuid.UUID, product: ProductIn
) -> Variant:
    """The single-variant shorthand of `ProductIn`: a variant without options carrying the
    SKU, the price and the stock; 409 if a live variant has the SKU."""
    # Flushed in steps: without relationships, the flush order is not implied.
    variant = Variant(id=uuid7(), product_id=product_id, sku=product.sku, option_values=[])
    catalog.add(variant)
    await catalog.flush_or_conflict(DuplicateVariant)
    catalog.add(
        VariantPrice(
            variant_id=variant.id, currency=product.currency, amount_minor=product.price_minor
        )
    )
    catalog.add(VariantStock(variant_id=variant.id, on_hand=product.on_hand))
    await catalog.flush_or_conflict(DuplicateVariant)
    return variant


async def create_product(product: ProductIn, *, uow: UnitOfWork) -> uuid.UUID:
    """A product and its default variant (SKU, price, stock); 409 if a live product has
    the slug or a live variant the SKU."""
    async with uow:
        catalog = CatalogRepository(uow.session)
        row = new_product(product, category_id=await category_id_of(catalog, product.category))
        catalog.add(row)
        await catalog.flush_or_conflict(DuplicateProduct)
        await add_default_variant(catalog, row.id, product)
        await refresh_product(uow.session, row.id)
        publish_change(
            uow,
            ProductChanged(product_id=row.id, slugs=[row.slug], change="created"),
            aggregate_id=row.id,
        )
        await uow.commit()
    return row.id


async def update_product(
    *,
    product_id: uuid.UUID,
    changes: ProductPatchIn,
    expected: ExpectedVersion,
    uow: UnitOfWork,
) -> None:
    """Apply the fields sent in `changes` (null clears only the category)."""
    sent = changes.sent_fields()
    async with uow:
        catalog = CatalogRepository(uow.session)
        product = await catalog.product_for_update(product_id)
        if product is None:
            raise ProductNotFound()
        expected.check(product.version)
        slugs = {product.slug}
        for name in sent - DEFAULT_VARIANT_FIELDS:
            if name == "category":
                product.category_id = await category_id_of(catalog, changes.category)
            else:
                setattr(product, name, getattr(changes, name))
        if sent:
            product.version += 1
            product.updated_at = utc_now()
            await catalog.flush_or_conflict(DuplicateProduct)
            if sent & DEFAULT_VARIANT_FIELDS:
                await _change_default_variant(catalog, product.id, changes, sent)
            await refresh_product(uow.session, product.id)
            slugs.add(product.slug)
            publish_change(
                uow,
                ProductChanged(product_id=product.id, slugs=sorted(slugs), change="updated"),
                aggregate_id=product.id,
            )
        await uow.commit()


# Fields of the single-variant shorthand (`ProductIn`): they belong to the default variant.
DEFAULT_VARIANT_FIELDS = frozenset({"sku", "price_minor", "currency"})


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
    """Soft delete: invisible everywhere, SKU and slug free again; the row stays for the
    orders that reference it."""
    async with uow:
        product = await CatalogRepository(uow.session).product_for_update(product_id)
        if product is None:
            raise ProductNotFound()
        product.deleted_at = utc_now()
        product.updated_at = product.deleted_at
        product.version += 1
        # Its variants go with it: their SKUs are free again.
        await CatalogRepository(uow.session).delete_variants_of(product.id, at=product.deleted_at)
        publish_change(
            uow,
            ProductChanged(product_id=product.id, slugs=[product.slug], change="deleted"),
            aggregate_id=product.id,
        )
        await uow.commit()
