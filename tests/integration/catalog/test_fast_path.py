"""Cached public reads answered before routing: same answer, same headers, same limits."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from mercato.catalog import api as catalog_api
from mercato.catalog import fast_path
from mercato.catalog.direct_reads import DirectRead, direct_read
from mercato.catalog.reads import ProductList
from mercato.platform.config import Settings
from mercato.platform.db.database import ConnectionBoundDatabase
from tests.integration.catalog.conftest import (
    create_category,
    create_product,
    retire_cached_reads,
)
from tests.support.apps import app_client
from tests.support.identity import bearer, seed_account


def count_route_work(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the route helpers called from now on (none when the fast path answers)."""
    calls: list[str] = []
    helpers: list[tuple[object, str]] = [
        (ProductList, "plan"),
        (catalog_api, "category_tree"),
        (catalog_api, "product_page_document"),
    ]
    for owner, name in helpers:
        original = getattr(owner, name)

        def spy(*args: Any, __name: str = name, __original: Any = original, **kwargs: Any) -> Any:
            calls.append(__name)
            return __original(*args, **kwargs)

        monkeypatch.setattr(owner, name, spy)
    return calls


async def test_a_cached_request_line_is_answered_without_the_route(
    client: httpx.AsyncClient, editor: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    await create_category(client, editor, "kitchen")
    product = await create_product(client, editor, category="kitchen")
    paths = [
        "/api/v1/products?category=kitchen&limit=1",
        f"/api/v1/products/{product['id']}",
        "/api/v1/categories",
        "/api/v1/categories/kitchen",
    ]
    slow = {path: await client.get(path) for path in paths}
    route_work = count_route_work(monkeypatch)
    for path in paths:
        fast = await client.get(path)
        assert fast.status_code == 200
        assert fast.content == slow[path].content
        for header in ("etag", "cache-control", "content-type", "x-content-type-options"):
            assert fast.headers[header] == slow[path].headers[header], header
        assert fast.headers["x-request-id"] != slow[path].headers["x-request-id"]
        assert "ratelimit" in fast.headers  # the route's per-IP limit still counts
        not_modified = await client.get(path, headers={"If-None-Match": fast.headers["etag"]})
        assert not_modified.status_code == 304
    assert route_work == []


async def test_only_request_lines_the_routes_validated_are_answered(
    client: httpx.AsyncClient, editor: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    await create_product(client, editor)
    assert (await client.get("/api/v1/products?limit=5")).status_code == 200
    for _ in range(2):  # refused each time: an invalid request is never cached
        assert (await client.get("/api/v1/products?limit=1000000")).status_code == 422
    route_work = count_route_work(monkeypatch)
    assert (await client.get("/api/v1/products?limit=5")).status_code == 200
    assert route_work == []
    # The same query spelled differently is another request line: the route runs.
    assert (await client.get("/api/v1/products?sort=-created_at&limit=5")).status_code == 200
    assert route_work[0] == "plan"


# --- misses computed on the fast path (`direct_reads.py`): the shared Redis cache --------


ANSWER_HEADERS = ("etag", "cache-control", "content-type", "link", "x-content-type-options")


async def test_a_miss_computed_on_the_fast_path_is_the_routes_answer(
    shared: Settings,
    redis_url: str,
    connection: AsyncConnection,
    database: ConnectionBoundDatabase,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await seed_account(connection, email="editor@corp.example", roles=("staff",))
    async with app_client(shared, database) as api:
        editor = await bearer(api, "editor@corp.example")
        await create_category(api, editor, "kitchen")
        products = [await create_product(api, editor, category="kitchen") for _ in range(3)]
        paths = [
            "/api/v1/products",
            "/api/v1/products?currency=EUR&min_price=1000&limit=2",
            "/api/v1/products?category=kitchen&sort=price&limit=1",
            f"/api/v1/products/{products[0]['id']}",
            f"/api/v1/products/{products[1]['slug']}?currency=EUR",
        ]
        taken: list[str] = []
        original = direct_read

        def spy(*args: Any, **kwargs: Any) -> DirectRead | None:
            read = original(*args, **kwargs)
            taken.append("direct" if read is not None else "route")
            return read

        monkeypatch.setattr(fast_path, "direct_read", spy)
        direct = {path: await api.get(path) for path in paths}
        assert taken == ["direct"] * len(paths)
        await retire_cached_reads(redis_url)
        monkeypatch.setattr(fast_path, "direct_read", lambda *args, **kwargs: None)
        for path in paths:
            routed = await api.get(path)
            assert direct[path].status_code == routed.status_code == 200, path
            assert direct[path].content == routed.content, path
            for header in ANSWER_HEADERS:
                assert direct[path].headers.get(header) == routed.headers.get(header), header
            assert "ratelimit" in direct[path].headers  # the route's per-IP limit counts


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/v1/products?limit=0", 422),
        ("/api/v1/products?currency=EUR&min_price=99999999999999999999", 422),
        ("/api/v1/products?cursor=forged", 422),
        ("/api/v1/products?tag=a%00b", 422),
        ("/api/v1/products?currency=EUR&currency=EUR", 200),  # repeated: the route decides
        ("/api/v1/products?min_price=10", 422),
        ("/api/v1/products?unknown=1", 422),
        ("/api/v1/products?status=draft", 401),
        (f"/api/v1/products/{uuid.UUID(int=7)}", 404),
        ("/api/v1/products/no-such-product", 404),
        ("/api/v1/products/" + "a" * 161, 404),
        ("/api/v1/products/a%00b", 422),
        (f"/api/v1/products/{uuid.UUID(int=7)}?currency=eur", 422),
    ],
)
async def test_what_the_fast_path_does_not_answer_is_answered_as_before(
    shared: Settings, database: ConnectionBoundDatabase, path: str, status: int
) -> None:
    async with app_client(shared, database) as api:
        for _ in range(2):  # a miss, then the same line again: never cached
            answer = await api.get(path)
            assert answer.status_code == status, answer.text
            if status >= 400:
                assert answer.headers["content-type"] == "application/problem+json"
                assert answer.json()["status"] == status
