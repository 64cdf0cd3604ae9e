"""Catalog administration of categories (permission `catalog:write`)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response

from mercato.catalog import categories
from mercato.catalog.admin_common import (
    IfMatch,
    versioned,
)
from mercato.catalog.api import category_out
from mercato.catalog.auth import CatalogEditor
from mercato.catalog.errors import CategoryNotFound
from mercato.catalog.models import Category
from mercato.catalog.repository import CatalogReads
from mercato.catalog.schemas import CategoryOut
from mercato.catalog.write_schemas import CategoryIn, CategoryPatchIn
from mercato.platform.concurrency import ExpectedVersion
from mercato.platform.db.database import Database
from mercato.platform.deps import DatabaseDep, UnitOfWorkDep
from mercato.platform.idempotency import idempotent

router = APIRouter(prefix="/api/v1/admin", tags=["catalog administration"])


async def _category(database: Database, category_id: uuid.UUID) -> CategoryOut:
    async with database.session() as session:
        live = await CatalogReads(session).live_categories()
    by_id: dict[uuid.UUID, Category] = {category.id: category for category in live}
    category = by_id.get(category_id)
    if category is None:
        raise CategoryNotFound()
    return category_out(category, by_id.get(category.parent_id) if category.parent_id else None)


@router.post(
    "/categories",
    status_code=201,
    response_model=CategoryOut,
    summary="Create a category (accepts Idempotency-Key)",
)
async def create_category(
    body: CategoryIn,
    editor: CatalogEditor,
    request: Request,
    uow: UnitOfWorkDep,
    database: DatabaseDep,
) -> Response:
    async with idempotent(request, database, scope=f"user:{editor.user_id}") as guard:
        if guard.replay is not None:
            return guard.replay
        category_id = await categories.create_category(body, uow=uow)
        created = versioned(await _category(database, category_id), status_code=201)
        created.headers["Location"] = f"/api/v1/categories/{body.slug}"
        return await guard.finish(created)


@router.patch("/categories/{category_id}", response_model=CategoryOut)
async def update_category(
    *,
    category_id: uuid.UUID,
    body: CategoryPatchIn,
    editor: CatalogEditor,
    uow: UnitOfWorkDep,
    database: DatabaseDep,
    if_match: IfMatch = None,
) -> Response:
    """Rename, re-slug, reorder or move (`parent`: a slug, or null for the root)."""
    await categories.update_category(
        category_id=category_id,
        changes=body,
        expected=ExpectedVersion.from_request(if_match=if_match, body_version=body.version),
        uow=uow,
    )
    return versioned(await _category(database, category_id))


@router.delete("/categories/{category_id}", status_code=204)
async def delete_category(
    category_id: uuid.UUID, editor: CatalogEditor, uow: UnitOfWorkDep
) -> Response:
    """Soft delete; 409 while live products or subcategories are in it."""
    await categories.delete_category(category_id=category_id, uow=uow)
    return Response(status_code=204)
