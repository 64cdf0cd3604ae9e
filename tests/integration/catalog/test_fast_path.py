"""Cached public reads answered before routing: same answer, same headers, same limits."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from mercato.catalog import api as catalog_api
from mercato.catalog.reads import ProductList
from tests.integration.catalog.conftest import create_category, create_product


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
