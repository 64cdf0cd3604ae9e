"""Catalog administration of categories: create, rename, move (with their subtree),
soft-delete. One transaction each; every change publishes an event.

Changes to the tree's shape (create under a parent, move, delete) take one lock on the
whole tree first (`lock_tree`): each reads the paths of rows it does not change (the new
parent, the subtree), so two of them at once could otherwise build a cycle (A under B
while B goes under A), hang a child under a parent being deleted, or deadlock over the
subtrees' rows. They are rare admin operations; waiting for each other costs nothing."""

from __future__ import annotations

import uuid

from mercato.catalog.changes import publish_change
from mercato.catalog.errors import (
    CategoryCycle,
    CategoryInUse,
    CategoryNotFound,
    DuplicateCategory,
)
from mercato.catalog.events import CategoryChanged
from mercato.catalog.models import Category
from mercato.catalog.repository import CatalogRepository
from mercato.catalog.write_schemas import CategoryIn, CategoryPatchIn
from mercato.platform.clock import utc_now
from mercato.platform.concurrency import ExpectedVersion
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.ids import uuid7


async def create_category(category: CategoryIn, *, uow: UnitOfWork) -> uuid.UUID:
    async with uow:
        catalog = CatalogRepository(uow.session)
        category_id = uuid7()
        parent_path = "/"
        parent_id = None
        if category.parent is not None:
            await catalog.lock_tree()
            parent = await catalog.category_by_slug(category.parent)
            if parent is None:
                raise CategoryNotFound("There is no live category with the parent slug.")
            parent_path, parent_id = parent.path, parent.id
        row = Category(
            id=category_id,
            parent_id=parent_id,
            slug=category.slug,
            name=category.name,
            position=category.position,
            path=f"{parent_path}{category_id.hex}/",
        )
        catalog.add(row)
        await catalog.flush_or_conflict(DuplicateCategory)
        publish_change(
            uow,
            CategoryChanged(category_id=category_id, slugs=[row.slug], change="created"),
            aggregate_id=category_id,
        )
        await uow.commit()
    return category_id


async def update_category(
    *,
    category_id: uuid.UUID,
    changes: CategoryPatchIn,
    expected: ExpectedVersion,
    uow: UnitOfWork,
) -> None:
    """Rename, re-slug, reorder, or move (`parent`: a slug, or null for the root)."""
    sent = changes.model_fields_set - {"version"}
    async with uow:
        catalog = CatalogRepository(uow.session)
        if "parent" in sent:
            await catalog.lock_tree()
        category = await catalog.category_for_update(category_id)
        if category is None:
            raise CategoryNotFound()
        expected.check(category.version)
        slugs = {category.slug}
        if "parent" in sent:
            await _move(catalog, category, changes.parent)
        for name in ("slug", "name", "position"):
            value = getattr(changes, name)
            if name in sent and value is not None:
                setattr(category, name, value)
        if sent:
            category.version += 1
            category.updated_at = utc_now()
            await catalog.flush_or_conflict(DuplicateCategory)
            slugs.add(category.slug)
            publish_change(
                uow,
                CategoryChanged(category_id=category.id, slugs=sorted(slugs), change="updated"),
                aggregate_id=category.id,
            )
        await uow.commit()


async def _move(catalog: CatalogRepository, category: Category, parent_slug: str | None) -> None:
    """Re-hang the category (and its subtree) under another parent, or at the root."""
    parent = None
    if parent_slug is not None:
        parent = await catalog.category_by_slug(parent_slug)
        if parent is None:
            raise CategoryNotFound("There is no live category with the parent slug.")
        if parent.path.startswith(category.path):
            raise CategoryCycle("A category cannot be moved under itself or its descendants.")
    new_path = f"{parent.path if parent else '/'}{category.id.hex}/"
    if new_path != category.path:
        await catalog.move_subtree(old_prefix=category.path, new_prefix=new_path)
    category.parent_id = parent.id if parent else None
    category.path = new_path


async def delete_category(*, category_id: uuid.UUID, uow: UnitOfWork) -> None:
    """Soft delete; 409 while live products or subcategories are in it."""
    async with uow:
        catalog = CatalogRepository(uow.session)
        await catalog.lock_tree()
        category = await catalog.category_for_update(category_id)
        if category is None:
            raise CategoryNotFound()
        if await catalog.category_in_use(category_id):
            raise CategoryInUse("Move or delete its products and subcategories first.")
        category.deleted_at = utc_now()
        category.version += 1
        publish_change(
            uow,
            CategoryChanged(category_id=category.id, slugs=[category.slug], change="deleted"),
            aggregate_id=category.id,
        )
        await uow.commit()
