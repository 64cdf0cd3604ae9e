"""Catalog administration of a product's options: add (existing variants take one value),
rename or re-order values, delete (the variants lose that value). Changes of the product:
they need its version."""

from __future__ import annotations

import uuid

from mercato.catalog.changes import locked_product, product_changed
from mercato.catalog.errors import (
    DuplicateOption,
    DuplicateVariant,
    OptionNotFound,
    OptionValueInUse,
    TooManyOptions,
)
from mercato.catalog.models import MAX_OPTIONS, ProductOption
from mercato.catalog.repository import CatalogRepository
from mercato.catalog.write_schemas import OptionCreateIn, OptionPatchIn
from mercato.platform.concurrency import ExpectedVersion
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.errors import Invalid
from mercato.platform.ids import uuid7


async def add_option(
    *, product_id: uuid.UUID, option: OptionCreateIn, expected: ExpectedVersion, uow: UnitOfWork
) -> uuid.UUID:
    existing = option.existing_value or option.values[0]
    if existing.casefold() not in {value.casefold() for value in option.values}:
        raise Invalid(
            "existing_value must be one of the option's values.",
            errors=[{"in": "body", "pointer": "/existing_value", "detail": "not a value"}],
        )
    async with uow:
        catalog = CatalogRepository(uow.session)
        product = await locked_product(catalog, product_id)
        expected.check(product.version)
        options = await catalog.options_of(product_id)
        if len(options) >= MAX_OPTIONS:
            raise TooManyOptions()
        if option.name.casefold() in {o.name.casefold() for o in options}:
            raise DuplicateOption()
        row = ProductOption(
            id=uuid7(),
            product_id=product_id,
            name=option.name,
            position=len(options),
            values=option.values,
        )
        catalog.add(row)
        spelled = next(value for value in option.values if value.casefold() == existing.casefold())
        await catalog.append_option_value(product_id, spelled)
        await product_changed(uow, product, slugs=set())
        await uow.commit()
    return row.id


async def update_option(
    *,
    product_id: uuid.UUID,
    option_id: uuid.UUID,
    changes: OptionPatchIn,
    expected: ExpectedVersion,
    uow: UnitOfWork,
) -> None:
    async with uow:
        catalog = CatalogRepository(uow.session)
        product = await locked_product(catalog, product_id)
        expected.check(product.version)
        options = await catalog.options_of(product_id)
        option = next((o for o in options if o.id == option_id), None)
        if option is None:
            raise OptionNotFound()
        if changes.name is not None:
            others = {o.name.casefold() for o in options if o.id != option_id}
            if changes.name.casefold() in others:
                raise DuplicateOption()
            option.name = changes.name
        if changes.values is not None:
            used = await catalog.option_values_in_use(product_id, option.position)
            kept = {value.casefold() for value in changes.values}
            if any(value.casefold() not in kept for value in used):
                raise OptionValueInUse()
            # Spelling changes of a value in use are carried to the variants.
            for value in changes.values:
                for old in used:
                    if old.casefold() == value.casefold() and old != value:
                        await catalog.respell_option_value(
                            product_id, option.position, old=old, new=value
                        )
            option.values = changes.values
        if changes.name is not None or changes.values is not None:
            await product_changed(uow, product, slugs=set())
        await uow.commit()


async def delete_option(
    *, product_id: uuid.UUID, option_id: uuid.UUID, expected: ExpectedVersion, uow: UnitOfWork
) -> None:
    """The variants drop the option's value; 409 if two live variants become the same."""
    async with uow:
        catalog = CatalogRepository(uow.session)
        product = await locked_product(catalog, product_id)
        expected.check(product.version)
        options = await catalog.options_of(product_id)
        option = next((o for o in options if o.id == option_id), None)
        if option is None:
            raise OptionNotFound()
        await catalog.delete_option(option)
        await catalog.drop_option_value(product_id, option.position)
        await catalog.flush_or_conflict(DuplicateVariant)
        await product_changed(uow, product, slugs=set())
        await uow.commit()
