"""Catalog administration of a product's options and images: changes of the product,
checked against its version (permission `catalog:write`)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response

from mercato.catalog import images, options
from mercato.catalog.admin_common import (
    IfMatch,
    expected_version,
    product_answer,
)
from mercato.catalog.auth import CatalogDep, CatalogEditor
from mercato.catalog.schemas import ProductOut
from mercato.catalog.write_schemas import ImageCreateIn, ImagePatchIn, OptionCreateIn, OptionPatchIn
from mercato.platform.deps import DatabaseDep, UnitOfWorkDep
from mercato.platform.idempotency import idempotent

router = APIRouter(prefix="/api/v1/admin", tags=["catalog administration"])


@router.post(
    "/products/{product_id}/options",
    status_code=201,
    response_model=ProductOut,
    summary="Add an option; existing variants take one of its values (accepts Idempotency-Key)",
)
async def add_option(
    *,
    product_id: uuid.UUID,
    body: OptionCreateIn,
    editor: CatalogEditor,
    request: Request,
    uow: UnitOfWorkDep,
    database: DatabaseDep,
    catalog: CatalogDep,
    if_match: IfMatch = None,
) -> Response:
    async with idempotent(request, database, scope=f"user:{editor.user_id}") as guard:
        if guard.replay is not None:
            return guard.replay
        await options.add_option(
            product_id=product_id,
            option=body,
            expected=expected_version(if_match, body.version),
            uow=uow,
        )
        created = await product_answer(database, catalog, product_id, status_code=201)
        return await guard.finish(created)


@router.patch("/products/{product_id}/options/{option_id}", response_model=ProductOut)
async def update_option(
    *,
    product_id: uuid.UUID,
    option_id: uuid.UUID,
    body: OptionPatchIn,
    editor: CatalogEditor,
    uow: UnitOfWorkDep,
    database: DatabaseDep,
    catalog: CatalogDep,
    if_match: IfMatch = None,
) -> Response:
    """Rename the option, re-order or add values (a value in use cannot go: 409)."""
    await options.update_option(
        product_id=product_id,
        option_id=option_id,
        changes=body,
        expected=expected_version(if_match, body.version),
        uow=uow,
    )
    return await product_answer(database, catalog, product_id)


@router.delete("/products/{product_id}/options/{option_id}", status_code=204)
async def delete_option(
    *,
    product_id: uuid.UUID,
    option_id: uuid.UUID,
    editor: CatalogEditor,
    uow: UnitOfWorkDep,
    if_match: IfMatch = None,
) -> Response:
    """The variants lose this option's value (409 if two would become the same)."""
    await options.delete_option(
        product_id=product_id, option_id=option_id, expected=expected_version(if_match), uow=uow
    )
    return Response(status_code=204)


@router.post(
    "/products/{product_id}/images",
    status_code=201,
    response_model=ProductOut,
    summary="Add an image (accepts Idempotency-Key)",
)
async def add_image(
    *,
    product_id: uuid.UUID,
    body: ImageCreateIn,
    editor: CatalogEditor,
    request: Request,
    uow: UnitOfWorkDep,
    database: DatabaseDep,
    catalog: CatalogDep,
) -> Response:
    async with idempotent(request, database, scope=f"user:{editor.user_id}") as guard:
        if guard.replay is not None:
            return guard.replay
        await images.add_image(
            product_id=product_id, image=body, media_base=catalog.settings.media_base_url, uow=uow
        )
        created = await product_answer(database, catalog, product_id, status_code=201)
        return await guard.finish(created)


@router.patch("/products/{product_id}/images/{image_id}", response_model=ProductOut)
async def update_image(
    *,
    product_id: uuid.UUID,
    image_id: uuid.UUID,
    body: ImagePatchIn,
    editor: CatalogEditor,
    uow: UnitOfWorkDep,
    database: DatabaseDep,
    catalog: CatalogDep,
    if_match: IfMatch = None,
) -> Response:
    await images.update_image(
        product_id=product_id,
        image_id=image_id,
        changes=body,
        expected=expected_version(if_match, body.version),
        uow=uow,
    )
    return await product_answer(database, catalog, product_id)


@router.delete("/products/{product_id}/images/{image_id}", status_code=204)
async def delete_image(
    *,
    product_id: uuid.UUID,
    image_id: uuid.UUID,
    editor: CatalogEditor,
    uow: UnitOfWorkDep,
    if_match: IfMatch = None,
) -> Response:
    await images.delete_image(
        product_id=product_id, image_id=image_id, expected=expected_version(if_match), uow=uow
    )
    return Response(status_code=204)
