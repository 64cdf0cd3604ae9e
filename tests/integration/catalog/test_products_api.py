"""The public products API: visibility, filters, search, sort, pages, HTTP caching."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection

from mercato.catalog import StockLine, reserve_stock
from mercato.catalog.schemas import ProductCard, ProductOut
from mercato.platform.listing import Page
from tests.integration.catalog.conftest import (
    counted_statements,
    create_category,
    create_product,
)

PRODUCTS = "/api/v1/products"


async def walk(client: httpx.AsyncClient, params: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    response = await client.get(PRODUCTS, params=params)
    for _ in range(200):
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend(page["items"])
        if page["next"] is None:
            return items
        assert response.headers["link"] == f'<{page["next"]}>; rel="next"'
        response = await client.get(page["next"])
    raise AssertionError("the pages never ended")


async def test_only_live_active_products_are_public(
    client: httpx.AsyncClient, editor: dict[str, str]
) -> None:
    active = await create_product(client, editor, slug="kettle", name="Kettle")
    draft = await create_product(client, editor, status="draft")
    gone = await create_product(client, editor, slug="old-lamp")
    assert (
        await client.delete(f"/api/v1/admin/products/{gone['id']}", headers=editor)
    ).status_code == 204

    listed = await walk(client, {})
    assert [item["id"] for item in listed] == [active["id"]]
    # Documents are built without models for speed: they must still be what OpenAPI says.
    page = await client.get(PRODUCTS)
    Page[ProductCard].model_validate_json(page.content)
    assert set(page.json()["items"][0]) == set(ProductCard.model_fields)
    detail = await client.get(f"{PRODUCTS}/{active['id']}")
    assert ProductOut.model_validate_json(detail.content).model_dump(mode="json") == detail.json()
    by_id = await client.get(f"{PRODUCTS}/{active['id']}")
    by_slug = await client.get(f"{PRODUCTS}/kettle")
    assert by_id.status_code == by_slug.status_code == 200
    assert by_id.json() == by_slug.json()
    assert by_id.json()["links"] == {"self": f"/api/v1/products/{active['id']}", "category": None}
    assert (await client.get(f"{PRODUCTS}/{draft['id']}")).status_code == 404
    assert (await client.get(f"{PRODUCTS}/old-lamp")).status_code == 404
    # A deleted product's slug and SKU are free again.
    again = await create_product(client, editor, slug="old-lamp", sku=gone["variants"][0]["sku"])
    assert again["id"] != gone["id"]

    # Drafts are for catalog editors only.
    assert (await client.get(PRODUCTS, params={"status": "draft"})).status_code == 401
    drafts = await client.get(PRODUCTS, params={"status": "draft"}, headers=editor)
    assert [item["id"] for item in drafts.json()["items"]] == [draft["id"]]
    assert drafts.headers["cache-control"] == "private, no-store"


async def test_reads_carry_strong_etags_and_answer_304(
    client: httpx.AsyncClient, editor: dict[str, str]
) -> None:
    product = await create_product(client, editor)
    detail = f"{PRODUCTS}/{product['id']}"
    etags = {}
    for path in (PRODUCTS, detail, "/api/v1/categories"):
        first = await client.get(path)
        etag = etags[path] = first.headers["etag"]
        assert etag.startswith('"')
        assert first.headers["cache-control"] == "public, max-age=60"
        again = await client.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["etag"] == etag
        stale = await client.get(path, headers={"If-None-Match": '"something-else"'})
        assert stale.status_code == 200

    changed = await client.patch(
        f"/api/v1/admin/products/{product['id']}",
        json={"name": "Renamed", "version": product["version"]},
        headers=editor,
    )
    assert changed.status_code == 200
    # The change is visible at once (the cache was invalidated) under a new validator.
    fresh = await client.get(detail, headers={"If-None-Match": etags[detail]})
    assert fresh.status_code == 200
    assert fresh.json()["name"] == "Renamed"
    assert fresh.headers["etag"] != etags[detail]


async def test_filters_combine_and_categories_include_their_subtree(
    client: httpx.AsyncClient, editor: dict[str, str], app: FastAPI
) -> None:
    await create_category(client, editor, "kitchen")
    await create_category(client, editor, "kettles", parent="kitchen")
    await create_category(client, editor, "garden")
    kettle = await create_product(client, editor, category="kettles", price_minor=2500)
    pan = await create_product(client, editor, category="kitchen", price_minor=4000, on_hand=0)
    await create_product(client, editor, category="garden", price_minor=3000)
    yen = await create_product(client, editor, category="kitchen", price_minor=3000, currency="JPY")

    kitchen = {item["id"] for item in await walk(client, {"category": "kitchen"})}
    assert kitchen == {kettle["id"], pan["id"], yen["id"]}
    only_kettles = await walk(client, {"category": "kettles"})
    assert [item["id"] for item in only_kettles] == [kettle["id"]]
    priced = await walk(
        client, {"currency": "EUR", "min_price": 2500, "max_price": 3500, "category": "kitchen"}
    )
    assert [item["id"] for item in priced] == [kettle["id"]]
    in_stock = {
        item["id"] for item in await walk(client, {"category": "kitchen", "in_stock": "true"})
    }
    assert in_stock == {kettle["id"], yen["id"]}
    sold_out = await walk(client, {"in_stock": "false"})
    assert [item["id"] for item in sold_out] == [pan["id"]]
    assert sold_out[0]["in_stock"] is False
    assert await walk(client, {"category": "no-such-category"}) == []
    # Reserved units are not available: the product's in_stock follows in the same commit.
    # As orders will: a unit of work of the application (its commit retires cached reads).
    async with app.state.runtime.unit_of_work() as uow:
        await reserve_stock(uow, [StockLine(uuid.UUID(kettle["variants"][0]["id"]), 5)])
        await uow.commit()
    page = (await client.get(f"{PRODUCTS}/{kettle['id']}")).json()
    assert page["in_stock"] is False
    assert page["variants"][0]["available"] is False
    assert page["variants"][0]["available_quantity"] is None  # counts stay private
    assert page["variants"][0]["stock"] is None
    assert kettle["id"] in {item["id"] for item in await walk(client, {"in_stock": "false"})}


async def test_search_ranks_full_text_matches_and_tolerates_typos(
    client: httpx.AsyncClient, editor: dict[str, str]
) -> None:
    kettle = await create_product(
        client, editor, name="Stainless steel kettle", description="Boils water fast"
    )
    teapot = await create_product(
        client, editor, name="Porcelain teapot", description="Pairs well with a kettle"
    )
    await create_product(client, editor, name="Garden hose", description="Twenty metres")

    ranked = await walk(client, {"q": "kettle"})
    assert [item["id"] for item in ranked] == [kettle["id"], teapot["id"]]  # the name weighs more
    assert [item["id"] for item in await walk(client, {"q": '"steel kettle" -porcelain'})] == [
        kettle["id"]
    ]
    typo = await walk(client, {"q": "stainles steel ketle", "limit": 1})  # pages stay fuzzy
    assert typo[0]["id"] == kettle["id"]
    assert len({item["id"] for item in typo}) == len(typo)
    assert await walk(client, {"q": "trampoline"}) == []


@pytest.mark.parametrize(
    ("sort", "key", "reverse"),
    [
        ("price", "price", False),
        ("-price", "price", True),
        ("name", "name", False),
        ("-name", "name", True),
        ("created_at", "created_at", False),
        ("-created_at", "created_at", True),
    ],
)
async def test_pages_concatenate_to_the_whole_ordered_list(
    client: httpx.AsyncClient, editor: dict[str, str], sort: str, key: str, reverse: bool
) -> None:
    for n in range(13):
        await create_product(client, editor, name=f"Item {n % 4}", price_minor=100 * (n % 5))
    items = await walk(client, {"sort": sort, "limit": 4})
    ids = [item["id"] for item in items]
    assert len(ids) == len(set(ids)) == 13

    def value(item: dict[str, Any]) -> Any:
        return item["price"]["amount_minor"] if key == "price" else item[key]

    values = [value(item) for item in items]
    assert values == sorted(values, reverse=reverse)


@pytest.mark.parametrize(
    "params",
    [
        {"sort": "pg_sleep(1)"},
        {"sort": "price;DROP TABLE catalog_product"},
        {"sort": "relevance"},  # only with q
        {"limit": "1000000"},
        {"limit": "0"},
        {"min_price": "100"},  # needs a currency
        {"currency": "eur"},
        {"currency": "XXX"},
        {"min_price": "500", "max_price": "100", "currency": "EUR"},
        {"category": "../etc"},
        {"in_stock": "maybe"},
        {"status": "deleted"},
        {"cursor": "bm90LWEtY3Vyc29y"},
        {"unknown": "1"},
    ],
)
async def test_bad_parameters_get_422_at_once(
    client: httpx.AsyncClient, params: dict[str, str]
) -> None:
    started = time.monotonic()
    response = await client.get(PRODUCTS, params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert time.monotonic() - started < 0.9


async def test_a_list_costs_one_statement_whatever_the_page_size(
    client: httpx.AsyncClient, editor: dict[str, str], connection: AsyncConnection
) -> None:
    await create_category(client, editor, "tools")
    for _ in range(30):
        await create_product(client, editor, category="tools")
    counts = []
    for limit in (1, 10, 30):
        async with counted_statements(connection) as statements:
            # A distinct query each time: a cache hit would prove nothing.
            response = await client.get(PRODUCTS, params={"limit": limit, "category": "tools"})
        assert response.status_code == 200
        assert len(response.json()["items"]) == limit
        counts.append(len([s for s in statements if "catalog_product" in s]))
    assert counts == [1, 1, 1]
