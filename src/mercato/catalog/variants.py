"""Catalog administration of variants and their prices: add, change, delete. Each is a
change of the product too (a new product version, its read fields recomputed)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

from mercato.catalog.changes import locked_product, product_changed
from mercato.catalog.errors import DuplicateVariant, PriceNotFound, VariantNotFound
from mercato.catalog.models import ProductOption, Variant, VariantPrice, VariantStock
from mercato.catalog.repository import CatalogRepository
from mercato.catalog.write_schemas import PricePutIn, VariantIn, VariantPatchIn
from mercato.platform.clock import utc_now
from mercato.platform.concurrency import ExpectedVersion
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.errors import Invalid
from mercato.platform.ids import uuid7


def option_values_of(
    chosen: Mapping[str, str], options: Sequence[ProductOption], *, pointer: str
) -> list[str]:
    """A variant's option values in the options' order, spelled as the options spell them
    (names and values match ignoring case); 422 unless there is one valid value per
    option. The client's text is never repeated in the detail."""
    by_name = {name.casefold(): value for name, value in chosen.items()}
    if len(by_name) != len(chosen) or set(by_name) != {o.name.casefold() for o in options}:
        raise Invalid(
            "A variant needs exactly one value for each option of the product.",
            errors=[{"in": "body", "pointer": pointer, "detail": "one value per option"}],
        )
    values = []
    for option in sorted(options, key=lambda option: option.position):
        wanted = by_name[option.name.casefold()].casefold()
        match = next((value for value in option.values if value.casefold() == wanted), None)
        if match is None:
            raise Invalid(
                "A variant's option value is not one of the option's values.",
                errors=[
                    {"in": "body", "pointer": f"{pointer}/{option.name}", "detail": "unknown value"}
                ],
            )
        values.append(match)
    return values


def refuse_repeats(variants: Sequence[VariantIn], values: Sequence[list[str]]) -> None:
    """SKUs (ignoring case) and option combinations are unique within one request."""
    skus = [variant.sku.casefold() for variant in variants]
    for index, sku in enumerate(skus):
        if sku in skus[:index]:
            raise Invalid(
                "Two variants have the same SKU.",
                errors=[{"in": "body", "pointer": f"/variants/{index}/sku", "detail": "repeated"}],
            )
        if values[index] in values[:index]:
            raise Invalid(
                "Two variants have the same option values.",
                errors=[
                    {"in": "body", "pointer": f"/variants/{index}/options", "detail": "repeated"}
                ],
            )


async def add_variant_rows(
    catalog: CatalogRepository,
    product_id: uuid.UUID,
    variants: Sequence[VariantIn],
    *,
    options: Sequence[ProductOption],
) -> list[Variant]:
    """Variant rows with their prices and stock; 409 if a live variant has a SKU, or the
    product a variant with the same option values."""
    rows = []
    for index, variant in enumerate(variants):
        dimensions = variant.dimensions
        row = Variant(
            id=uuid7(),
            product_id=product_id,
            sku=variant.sku,
            option_values=option_values_of(
                variant.options, options, pointer=f"/variants/{index}/options"
            ),
            barcode=variant.barcode,
            weight_grams=variant.weight_grams,
            length_mm=dimensions.length_mm if dimensions else None,
            width_mm=dimensions.width_mm if dimensions else None,
            height_mm=dimensions.height_mm if dimensions else None,
            status=variant.status,
            position=variant.position or index,
        )
        catalog.add(row)
        rows.append(row)
    # The variants first: without relationships, the flush order is not implied.
    await catalog.flush_or_conflict(DuplicateVariant)
    for row, variant in zip(rows, variants, strict=True):
        catalog.add(VariantStock(variant_id=row.id, on_hand=variant.on_hand))
        for price in variant.prices:
            catalog.add(
                VariantPrice(
                    variant_id=row.id,
                    currency=price.currency,
                    amount_minor=price.amount_minor,
                    compare_at_minor=price.compare_at_minor,
                )
            )
    await catalog.flush_or_conflict(DuplicateVariant)
    return rows


async def add_variant(*, product_id: uuid.UUID, variant: VariantIn, uow: UnitOfWork) -> uuid.UUID:
    async with uow:
        catalog = CatalogRepository(uow.session)
        product = await locked_product(catalog, product_id)
        options = await catalog.options_of(product_id)
        (row,) = await add_variant_rows(catalog, product_id, [variant], options=options)
        await product_changed(uow, product, slugs=set())
        await uow.commit()
    return row.id


async def _locked_variant(
    catalog: CatalogRepository, product_id: uuid.UUID, variant_id: uuid.UUID
) -> Variant:
    variant = await catalog.variant_for_update(product_id=product_id, variant_id=variant_id)
    if variant is None:
        raise VariantNotFound()
    return variant


def _changed(variant: Variant) -> None:
    variant.version += 1
    variant.updated_at = utc_now()


async def update_variant(
    *,
    product_id: uuid.UUID,
    variant_id: uuid.UUID,
    changes: VariantPatchIn,
    expected: ExpectedVersion,
    uow: UnitOfWork,
) -> None:
    sent = changes.sent_fields()
    async with uow:
        catalog = CatalogRepository(uow.session)
        product = await locked_product(catalog, product_id)
        variant = await _locked_variant(catalog, product_id, variant_id)
        expected.check(variant.version)
        if not sent:
            await uow.commit()
            return
        for name in sent - {"options", "dimensions"}:
            setattr(variant, name, getattr(changes, name))
        if "options" in sent:
            assert changes.options is not None
            options = await catalog.options_of(product_id)
            variant.option_values = option_values_of(changes.options, options, pointer="/options")
        if "dimensions" in sent:
            dimensions = changes.dimensions
            variant.length_mm = dimensions.length_mm if dimensions else None
            variant.width_mm = dimensions.width_mm if dimensions else None
            variant.height_mm = dimensions.height_mm if dimensions else None
        _changed(variant)
        await catalog.flush_or_conflict(DuplicateVariant)
        await product_changed(uow, product, slugs=set())
        await uow.commit()


async def delete_variant(
    *, product_id: uuid.UUID, variant_id: uuid.UUID, expected: ExpectedVersion, uow: UnitOfWork
) -> None:
    """Soft delete: its SKU is free again; orders keep referring to the row. Its images
    stay with the product."""
    async with uow:
        catalog = CatalogRepository(uow.session)
        product = await locked_product(catalog, product_id)
        variant = await _locked_variant(catalog, product_id, variant_id)
        expected.check(variant.version)
        variant.deleted_at = utc_now()
        _changed(variant)
        await catalog.detach_images(variant_id)
        await product_changed(uow, product, slugs=set())
        await uow.commit()


async def set_price(
    *,
    product_id: uuid.UUID,
    variant_id: uuid.UUID,
    currency: str,
    price: PricePutIn,
    expected: ExpectedVersion,
    uow: UnitOfWork,
) -> None:
    """Create or replace the variant's price in `currency`."""
    async with uow:
        catalog = CatalogRepository(uow.session)
        product = await locked_product(catalog, product_id)
        variant = await _locked_variant(catalog, product_id, variant_id)
        expected.check(variant.version)
        await catalog.put_price(
            variant_id,
            currency=currency,
            amount_minor=price.amount_minor,
            compare_at_minor=price.compare_at_minor,
        )
        _changed(variant)
        await product_changed(uow, product, slugs=set())
        await uow.commit()


async def delete_price(
    *,
    product_id: uuid.UUID,
    variant_id: uuid.UUID,
    currency: str,
    expected: ExpectedVersion,
    uow: UnitOfWork,
) -> None:
    async with uow:
        catalog = CatalogRepository(uow.session)
        product = await locked_product(catalog, product_id)
        variant = await _locked_variant(catalog, product_id, variant_id)
        expected.check(variant.version)
        if not await catalog.delete_price(variant_id, currency=currency):
            raise PriceNotFound()
        _changed(variant)
        await product_changed(uow, product, slugs=set())
        await uow.commit()
