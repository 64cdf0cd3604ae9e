"""Catalog administration of product images: add, change (alt text, order, primary,
variant), delete. A product has one primary image once it has any."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

from mercato.catalog.changes import locked_product, product_changed
from mercato.catalog.errors import ImageNotFound, VariantNotFound
from mercato.catalog.models import ProductImage
from mercato.catalog.repository import CatalogRepository
from mercato.catalog.write_schemas import ImageCreateIn, ImageIn, ImagePatchIn
from mercato.platform.concurrency import ExpectedVersion
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.errors import Invalid
from mercato.platform.ids import uuid7


def checked_image_url(url: str, *, media_base: str | None, pointer: str) -> str:
    """An absolute https URL with a host and no credentials, or one under the configured
    media base; 422 otherwise (the URL is not repeated in the detail)."""
    if media_base and _under(url, media_base):
        return url
    try:
        parts = urlsplit(url)
        fine = (
            parts.scheme == "https"
            and bool(parts.hostname)
            and parts.username is None
            and not any(character.isspace() for character in url)
        )
    except ValueError:
        fine = False
    if not fine:
        raise Invalid(
            "An image URL must be https (or under the configured media base).",
            errors=[{"in": "body", "pointer": pointer, "detail": "not an https URL"}],
        )
    return url


def _under(url: str, media_base: str) -> bool:
    """Same scheme, host and port as the media base, no credentials, and a path under its
    path as a directory (`http://media:8000` is no prefix of `http://media:8000.evil/`
    nor of `http://media:8000@evil/`)."""
    try:
        parts, base = urlsplit(url), urlsplit(media_base)
        same_origin = (parts.scheme, parts.hostname, parts.port) == (
            base.scheme,
            base.hostname,
            base.port,
        )
    except ValueError:
        return False
    folder = base.path if base.path.endswith("/") else base.path + "/"
    return (
        same_origin
        and bool(parts.hostname)
        and parts.username is None
        and parts.password is None
        and (parts.path + "/").startswith(folder)
        and not any(character.isspace() for character in url)
    )


async def add_image_rows(
    catalog: CatalogRepository,
    product_id: uuid.UUID,
    images: Sequence[ImageIn],
    variants_by_sku: Mapping[str, uuid.UUID],
    *,
    media_base: str | None,
) -> None:
    """The images of a new product; the one marked primary (else the first) is primary."""
    primary = next((index for index, image in enumerate(images) if image.primary), 0)
    for index, image in enumerate(images):
        variant_id = None
        if image.variant_sku is not None:
            variant_id = variants_by_sku.get(image.variant_sku.casefold())
            if variant_id is None:
                raise Invalid(
                    "An image names a SKU that is not one of the product's variants.",
                    errors=[
                        {
                            "in": "body",
                            "pointer": f"/images/{index}/variant_sku",
                            "detail": "unknown SKU",
                        }
                    ],
                )
        catalog.add(
            ProductImage(
                id=uuid7(),
                product_id=product_id,
                variant_id=variant_id,
                url=checked_image_url(
                    image.url, media_base=media_base, pointer=f"/images/{index}/url"
                ),
                alt=image.alt,
                position=image.position or index,
                is_primary=index == primary,
            )
        )


async def _variant_of(
    catalog: CatalogRepository, product_id: uuid.UUID, variant_id: uuid.UUID | None
) -> uuid.UUID | None:
    if variant_id is not None and variant_id not in await catalog.live_variant_ids(product_id):
        raise VariantNotFound()
    return variant_id


async def add_image(
    *,
    product_id: uuid.UUID,
    image: ImageCreateIn,
    media_base: str | None,
    uow: UnitOfWork,
) -> uuid.UUID:
    async with uow:
        catalog = CatalogRepository(uow.session)
        product = await locked_product(catalog, product_id)
        url = checked_image_url(image.url, media_base=media_base, pointer="/url")
        first = not await catalog.images_of(product_id)
        if image.primary and not first:
            await catalog.clear_primary_image(product_id)
        row = ProductImage(
            id=uuid7(),
            product_id=product_id,
            variant_id=await _variant_of(catalog, product_id, image.variant_id),
            url=url,
            alt=image.alt,
            position=image.position,
            is_primary=image.primary or first,
        )
        catalog.add(row)
        await product_changed(uow, product, slugs=set())
        await uow.commit()
    return row.id


async def update_image(
    *,
    product_id: uuid.UUID,
    image_id: uuid.UUID,
    changes: ImagePatchIn,
    expected: ExpectedVersion,
    uow: UnitOfWork,
) -> None:
    sent = changes.sent_fields()
    async with uow:
        catalog = CatalogRepository(uow.session)
        product = await locked_product(catalog, product_id)
        expected.check(product.version)
        image = await catalog.image(product_id, image_id)
        if image is None:
            raise ImageNotFound()
        if "alt" in sent and changes.alt is not None:
            image.alt = changes.alt
        if "position" in sent and changes.position is not None:
            image.position = changes.position
        if "variant_id" in sent:
            image.variant_id = await _variant_of(catalog, product_id, changes.variant_id)
        if changes.primary and not image.is_primary:
            await catalog.clear_primary_image(product_id)
            image.is_primary = True
        if sent:
            await product_changed(uow, product, slugs=set())
        await uow.commit()


async def delete_image(
    *, product_id: uuid.UUID, image_id: uuid.UUID, expected: ExpectedVersion, uow: UnitOfWork
) -> None:
    """The next image (by position) becomes primary when the primary one goes."""
    async with uow:
        catalog = CatalogRepository(uow.session)
        product = await locked_product(catalog, product_id)
        expected.check(product.version)
        image = await catalog.image(product_id, image_id)
        if image is None:
            raise ImageNotFound()
        await catalog.delete_image(image)
        if image.is_primary:
            remaining = await catalog.images_of(product_id)
            if remaining:
                remaining[0].is_primary = True
        await product_changed(uow, product, slugs=set())
        await uow.commit()
