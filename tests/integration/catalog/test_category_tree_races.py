"""Concurrent changes to the category tree's shape: no cycle, no orphan, no deadlock."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import text

from mercato.platform.config import Settings
from mercato.platform.db.database import Database
from tests.integration.catalog.conftest import create_category
from tests.support.identity import bearer, seed_account

CATEGORIES = "/api/v1/admin/categories"
ROUNDS = 10


async def _editor(client: httpx.AsyncClient, settings: Settings) -> dict[str, str]:
    database = Database.from_settings(settings.database)
    try:
        async with database.primary.begin() as connection:
            await seed_account(connection, email="tree@corp.example", roles=("staff",))
    finally:
        await database.dispose()
    return await bearer(client, "tree@corp.example")


async def _paths_are_a_tree(settings: Settings) -> bool:
    """Every live category's path is its parent's path plus its own id."""
    database = Database.from_settings(settings.database)
    try:
        async with database.primary.connect() as connection:
            broken = await connection.scalar(
                text(
                    "SELECT count(*) FROM catalog_category c"
                    " LEFT JOIN catalog_category p ON p.id = c.parent_id"
                    " WHERE c.deleted_at IS NULL AND (c.path <> coalesce(p.path, '/')"
                    " || replace(c.id::text, '-', '') || '/' OR p.deleted_at IS NOT NULL)"
                )
            )
    finally:
        await database.dispose()
    return bool(broken == 0)


async def test_opposite_moves_at_once_make_no_cycle_and_no_server_error(
    live_catalog_client: httpx.AsyncClient, settings: Settings
) -> None:
    client = live_catalog_client
    editor = await _editor(client, settings)
    for round_number in range(ROUNDS):
        a = await create_category(client, editor, f"a-{round_number}")
        b = await create_category(client, editor, f"b-{round_number}")
        answers = await asyncio.gather(
            client.patch(
                f"{CATEGORIES}/{a['id']}",
                json={"parent": b["slug"], "version": 1},
                headers=editor,
            ),
            client.patch(
                f"{CATEGORIES}/{b['id']}",
                json={"parent": a["slug"], "version": 1},
                headers=editor,
            ),
        )
        # One moves; the other then finds it would build a cycle.
        assert sorted(answer.status_code for answer in answers) == [200, 422]
    assert await _paths_are_a_tree(settings)


async def test_a_child_created_while_its_parent_is_deleted_is_never_orphaned(
    live_catalog_client: httpx.AsyncClient, settings: Settings
) -> None:
    client = live_catalog_client
    editor = await _editor(client, settings)
    for round_number in range(ROUNDS):
        parent = await create_category(client, editor, f"parent-{round_number}")
        created, deleted = await asyncio.gather(
            client.post(
                CATEGORIES,
                json={"slug": f"child-{round_number}", "name": "Child", "parent": parent["slug"]},
                headers=editor,
            ),
            client.delete(f"{CATEGORIES}/{parent['id']}", headers=editor),
        )
        # Either the child came first (the delete is refused) or the delete did (no parent).
        assert (created.status_code, deleted.status_code) in ((201, 409), (404, 204)), (
            created.text,
            deleted.text,
        )
    assert await _paths_are_a_tree(settings)
