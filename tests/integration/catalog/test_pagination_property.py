"""Property: whatever the data, filters, sort and page size, walking the pages yields the
whole ordered result once, even while products are added between page requests."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

_runs = itertools.count()

SORTS = {
    "price": (lambda item: (item["price"]["amount_minor"], item["id"]), False),
    "-price": (lambda item: (item["price"]["amount_minor"], item["id"]), True),
    "name": (lambda item: (item["name"], item["id"]), False),
    "-name": (lambda item: (item["name"], item["id"]), True),
    "-created_at": (lambda item: (item["created_at"], item["id"]), True),
}

products = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=50),  # prices collide often: ties need the id
        st.sampled_from(["Anvil", "Bell", "Cup", "Drum"]),
        st.booleans(),  # in stock
    ),
    min_size=0,
    max_size=25,
)


async def insert(
    connection: AsyncConnection, category: uuid.UUID, price: int, name: str, stock: int
) -> str:
    product_id, variant_id = uuid.uuid4(), uuid.uuid4()
    await connection.execute(
        text(
            "INSERT INTO catalog_product (id, slug, name, category_id, status, in_stock)"
            " VALUES (:id, :slug, :name, :category, 'active', :stock > 0)"
        ),
        {
            "id": product_id,
            "slug": f"p-{product_id.hex}",
            "name": name,
            "category": category,
            "stock": stock,
        },
    )
    for statement in (
        "INSERT INTO catalog_variant (id, product_id, sku) VALUES (:variant, :id, :sku)",
        "INSERT INTO catalog_variant_price (variant_id, currency, amount_minor)"
        " VALUES (:variant, 'EUR', :price)",
        "INSERT INTO catalog_variant_stock (variant_id, on_hand) VALUES (:variant, :stock)",
        "INSERT INTO catalog_product_price (product_id, currency, from_minor)"
        " VALUES (:id, 'EUR', :price)",
    ):
        await connection.execute(
            text(statement),
            {
                "id": product_id,
                "variant": variant_id,
                "sku": f"P-{product_id.hex}",
                "price": price,
                "stock": stock,
            },
        )
    return str(product_id)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows=products,
    sort=st.sampled_from(sorted(SORTS)),
    limit=st.integers(min_value=1, max_value=7),
    in_stock=st.sampled_from([None, True]),
    newcomers=st.lists(st.integers(min_value=0, max_value=50), max_size=6),
)
async def test_pages_are_the_whole_ordered_result_once(  # noqa: PLR0917 - hypothesis passes them
    client: httpx.AsyncClient,
    connection: AsyncConnection,
    rows: list[tuple[int, str, bool]],
    sort: str,
    limit: int,
    in_stock: bool | None,
    newcomers: list[int],
) -> None:
    # Each example has a category of its own: no cached page of another example applies.
    category = uuid.uuid4()
    slug = f"property-{next(_runs)}-{category.hex[:8]}"
    await connection.execute(
        text("INSERT INTO catalog_category (id, slug, name, path) VALUES (:id, :slug, 'P', :path)"),
        {"id": category, "slug": slug, "path": f"/{category.hex}/"},
    )
    original = {
        await insert(connection, category, price, name, 3 if stocked else 0)
        for price, name, stocked in rows
    }
    params: dict[str, Any] = {"category": slug, "sort": sort, "limit": limit}
    if in_stock is not None:
        params["in_stock"] = "true"

    seen: list[dict[str, Any]] = []
    response = await client.get("/api/v1/products", params=params)
    pending = list(newcomers)
    for _ in range(100):
        assert response.status_code == 200, response.text
        page = response.json()
        seen.extend(page["items"])
        if page["next"] is None:
            break
        if pending:  # someone adds a product between two page requests
            await insert(connection, category, pending.pop(), "Bell", 3)
        response = await client.get(page["next"])

    ids = [item["id"] for item in seen]
    assert len(ids) == len(set(ids)), "a product appeared twice"
    key, descending = SORTS[sort]
    assert seen == sorted(seen, key=key, reverse=descending), "pages out of order"
    in_result = {item["id"] for item in seen}
    stocked_originals = await connection.execute(
        text(
            "SELECT p.id::text FROM catalog_product p"
            " WHERE p.id::text = ANY(:ids) AND (:any_stock OR p.in_stock)"
        ),
        {"ids": list(original), "any_stock": in_stock is None},
    )
    assert set(stocked_originals.scalars()) <= in_result, "a product was skipped"
