"""Catalog administration: versions, idempotency keys, stock constraints, the tree."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from mercato.platform.config import Settings
from mercato.platform.db.database import Database
from tests.integration.catalog.conftest import create_category, create_product
from tests.support.identity import bearer, seed_account

ADMIN_PRODUCTS = "/api/v1/admin/products"


async def test_updates_need_the_current_version(
    client: httpx.AsyncClient, editor: dict[str, str]
) -> None:
    product = await create_product(client, editor)
    path = f"{ADMIN_PRODUCTS}/{product['id']}"
    read = await client.get(path, headers=editor)
    assert read.headers["etag"] == '"1"'

    assert (await client.patch(path, json={"name": "A"}, headers=editor)).status_code == 428
    first = await client.patch(
        path, json={"name": "A", "price_minor": 999}, headers={**editor, "If-Match": '"1"'}
    )
    assert first.status_code == 200
    assert first.json()["price"] == {"amount_minor": 999, "currency": "EUR"}
    assert first.headers["etag"] == '"2"'
    stale = await client.patch(path, json={"name": "B"}, headers={**editor, "If-Match": '"1"'})
    assert stale.status_code == 412
    conflict = await client.patch(path, json={"name": "B", "version": 1}, headers=editor)
    assert conflict.status_code == 409
    archived = await client.patch(path, json={"status": "archived", "version": 2}, headers=editor)
    assert archived.json()["status"] == "archived"
    assert (await client.get(f"/api/v1/products/{product['id']}")).status_code == 404

    for body in (
        {"price_minor": -1, "version": 3},
        {"price_minor": 1.5, "version": 3},
        {"currency": "EURO", "version": 3},
        {"name": None, "version": 3},
        {"id": str(uuid.uuid4()), "version": 3},
        {"version_number": 3},
        {"attributes": ["not", "an", "object"], "version": 3},
    ):
        response = await client.patch(path, json=body, headers=editor)
        assert response.status_code == 422, body


async def test_duplicates_and_unknown_categories_are_refused(
    client: httpx.AsyncClient, editor: dict[str, str]
) -> None:
    product = await create_product(client, editor, slug="teapot", sku="TEA-1")
    same_sku = await client.post(
        ADMIN_PRODUCTS,
        json={"sku": "TEA-1", "slug": "other", "name": "x", "price_minor": 1, "currency": "EUR"},
        headers=editor,
    )
    assert same_sku.status_code == 409
    assert same_sku.json()["type"] == "/problems/duplicate-variant"
    unknown = await client.post(
        ADMIN_PRODUCTS,
        json={
            "sku": "TEA-2",
            "slug": "other",
            "name": "x",
            "price_minor": 1,
            "currency": "EUR",
            "category": "nowhere",
        },
        headers=editor,
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["pointer"] == "/category"
    rename = await client.patch(
        f"{ADMIN_PRODUCTS}/{product['id']}", json={"slug": "teapot", "version": 1}, headers=editor
    )
    assert rename.status_code == 200  # its own slug is no conflict


async def test_customers_cannot_edit_the_catalog(
    client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    await seed_account(connection, email="buyer@shop.example")
    buyer = await bearer(client, "buyer@shop.example")
    body = {"sku": "X-1", "slug": "x", "name": "x", "price_minor": 1, "currency": "EUR"}
    assert (await client.post(ADMIN_PRODUCTS, json=body, headers=buyer)).status_code == 403
    assert (await client.post(ADMIN_PRODUCTS, json=body)).status_code == 401


async def test_an_idempotency_key_replays_the_first_answer(
    client: httpx.AsyncClient, editor: dict[str, str], connection: AsyncConnection
) -> None:
    body = {"sku": "IDEM-1", "slug": "idem", "name": "Idem", "price_minor": 5, "currency": "EUR"}
    keyed = {**editor, "Idempotency-Key": "create-idem-1"}
    first = await client.post(ADMIN_PRODUCTS, json=body, headers=keyed)
    assert first.status_code == 201
    assert "idempotent-replayed" not in first.headers
    replay = await client.post(ADMIN_PRODUCTS, json=body, headers=keyed)
    assert replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == first.json()
    assert replay.headers["location"] == first.headers["location"]
    different = await client.post(ADMIN_PRODUCTS, json={**body, "name": "Other"}, headers=keyed)
    assert different.status_code == 422
    assert different.json()["type"] == "/problems/idempotency-key-reused"
    count = await connection.scalar(
        text("SELECT count(*) FROM catalog_variant WHERE sku = 'IDEM-1'")
    )
    assert count == 1

    # A failed request releases its key: the corrected retry runs.
    broken = {
        "sku": "IDEM-2",
        "slug": "idem-2",
        "name": "x",
        "price_minor": 1,
        "currency": "EUR",
        "category": "nope",
    }
    retry_key = {**editor, "Idempotency-Key": "create-idem-2"}
    assert (await client.post(ADMIN_PRODUCTS, json=broken, headers=retry_key)).status_code == 422
    broken.pop("category")
    assert (await client.post(ADMIN_PRODUCTS, json=broken, headers=retry_key)).status_code == 201
    # Keys are scoped to the caller: another editor's same key is a different key.
    await seed_account(connection, email="other-editor@corp.example", roles=("staff",))
    other = await bearer(client, "other-editor@corp.example")
    mine = await client.post(
        ADMIN_PRODUCTS,
        json={**body, "sku": "IDEM-3", "slug": "idem-3"},
        headers={**other, "Idempotency-Key": "create-idem-1"},
    )
    assert mine.status_code == 201
    assert "idempotent-replayed" not in mine.headers


async def test_concurrent_requests_with_one_key_create_one_product(
    live_catalog_client: httpx.AsyncClient, settings: Settings
) -> None:
    client = live_catalog_client
    database = Database.from_settings(settings.database)
    try:
        async with database.primary.begin() as connection:
            await seed_account(connection, email="editor@corp.example", roles=("staff",))
    finally:
        await database.dispose()
    editor = await bearer(client, "editor@corp.example")
    body = {
        "sku": "RACE-1",
        "slug": "race",
        "name": "Race",
        "price_minor": 5,
        "currency": "EUR",
        "status": "active",
    }
    headers = {**editor, "Idempotency-Key": "race-key"}
    answers = await asyncio.gather(
        *(client.post(ADMIN_PRODUCTS, json=body, headers=headers) for _ in range(10))
    )
    statuses = sorted(answer.status_code for answer in answers)
    assert set(statuses) <= {201, 409}
    assert 201 in statuses
    created = {answer.json()["id"] for answer in answers if answer.status_code == 201}
    assert len(created) == 1  # replays carry the same product
    listed = (await client.get("/api/v1/products")).json()["items"]
    assert [item["slug"] for item in listed] == ["race"]


async def test_stock_never_goes_below_what_is_reserved(
    client: httpx.AsyncClient, editor: dict[str, str], connection: AsyncConnection
) -> None:
    product = await create_product(client, editor, on_hand=10)
    inventory = f"{ADMIN_PRODUCTS}/{product['id']}/inventory"
    await connection.execute(
        text(
            "UPDATE catalog_variant_stock SET reserved = 4 WHERE variant_id ="
            " (SELECT id FROM catalog_variant WHERE product_id = :id)"
        ),
        {"id": product["id"]},
    )
    assert (await client.put(inventory, json={"on_hand": 3}, headers=editor)).status_code == 409
    below = await client.post(f"{inventory}/adjust", json={"delta": -7}, headers=editor)
    assert below.status_code == 409
    assert below.json()["type"] == "/problems/insufficient-stock"
    ok = await client.post(f"{inventory}/adjust", json={"delta": -6}, headers=editor)
    assert ok.json() == {"product_id": product["id"], "on_hand": 4, "reserved": 4, "available": 0}
    assert (await client.put(inventory, json={"on_hand": 20}, headers=editor)).json()[
        "on_hand"
    ] == 20
    assert (await client.put(inventory, json={"on_hand": -1}, headers=editor)).status_code == 422
    assert (
        await client.post(f"{inventory}/adjust", json={"delta": 0}, headers=editor)
    ).status_code == 422
    missing = await client.put(
        f"{ADMIN_PRODUCTS}/{uuid.uuid4()}/inventory", json={"on_hand": 1}, headers=editor
    )
    assert missing.status_code == 404
    # The database refuses it too, whatever the code path.
    refused = await connection.execute(
        text(
            "SELECT count(*) FROM catalog_variant_stock s JOIN catalog_variant v"
            " ON v.id = s.variant_id WHERE v.product_id = :id AND s.reserved <= s.on_hand"
        ),
        {"id": product["id"]},
    )
    assert refused.scalar_one() == 1


async def test_categories_move_with_their_subtree_and_refuse_cycles(
    client: httpx.AsyncClient, editor: dict[str, str]
) -> None:
    kitchen = await create_category(client, editor, "kitchen")
    kettles = await create_category(client, editor, "kettles", parent="kitchen")
    await create_category(client, editor, "electric-kettles", parent="kettles")
    garden = await create_category(client, editor, "garden")
    product = await create_product(client, editor, category="electric-kettles")

    cycle = await client.patch(
        f"/api/v1/admin/categories/{kitchen['id']}",
        json={"parent": "electric-kettles", "version": 1},
        headers=editor,
    )
    assert cycle.status_code == 422
    moved = await client.patch(
        f"/api/v1/admin/categories/{kettles['id']}",
        json={"parent": "garden", "version": 1},
        headers=editor,
    )
    assert moved.status_code == 200
    assert moved.json()["parent"] == {"id": garden["id"], "slug": "garden"}
    in_garden = (await client.get("/api/v1/products", params={"category": "garden"})).json()
    assert [item["id"] for item in in_garden["items"]] == [product["id"]]
    assert (await client.get("/api/v1/products", params={"category": "kitchen"})).json()[
        "items"
    ] == []

    tree = (await client.get("/api/v1/categories")).json()
    assert [root["slug"] for root in tree] == ["garden", "kitchen"]
    assert tree[0]["children"][0]["slug"] == "kettles"
    assert tree[0]["children"][0]["children"][0]["slug"] == "electric-kettles"
    one = (await client.get("/api/v1/categories/kettles")).json()
    assert one["parent"]["slug"] == "garden"
    assert (await client.get("/api/v1/categories/nowhere")).status_code == 404

    in_use = await client.delete(f"/api/v1/admin/categories/{garden['id']}", headers=editor)
    assert in_use.status_code == 409
    assert (
        await client.delete(f"/api/v1/admin/categories/{kitchen['id']}", headers=editor)
    ).status_code == 204
    assert [root["slug"] for root in (await client.get("/api/v1/categories")).json()] == ["garden"]
