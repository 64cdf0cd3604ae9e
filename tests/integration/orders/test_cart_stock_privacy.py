"""Exact stock counts stay private while `CATALOG_EXPOSE_STOCK_COUNTS` is off (the
default): a cart answers the same for the stock count and for one unit more (no
bisection), and checkout holds the count. With counts shown, the exact refusal stays."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from mercato.catalog.config import CatalogSettings
from mercato.platform.config import Settings
from tests.integration.orders.conftest import Shop
from tests.integration.orders.http_support import api_of
from tests.integration.orders.test_api import ADDRESS, customer, problem

LINES = "/api/v1/cart/lines"


def seen(response: httpx.Response) -> tuple[int, list[str], bool, bool]:
    """What an answer tells about stock: its status and the cart's availability flags."""
    body: dict[str, Any] = response.json()
    return (
        response.status_code,
        [line["availability"] for line in body["lines"]],
        body["changed"],
        body["ready_for_checkout"],
    )


async def guest_answers(api: httpx.AsyncClient, variant: uuid.UUID, quantity: int) -> list[object]:
    """A new guest cart: the line added with `quantity`, then changed to it, then read."""
    guest = {"Cart-Token": (await api.post("/api/v1/cart")).json()["cart_token"]}
    line = {"variant_id": str(variant), "currency": "EUR"}
    added = await api.post(LINES, json=line | {"quantity": quantity}, headers=guest)
    await api.put(f"{LINES}/{variant}", json={"quantity": 1}, headers=guest)
    changed = await api.put(f"{LINES}/{variant}", json={"quantity": quantity}, headers=guest)
    shipped = await api.put(
        "/api/v1/cart/shipping", json={"address": ADDRESS, "method": "standard"}, headers=guest
    )
    read = await api.get("/api/v1/cart", headers=guest)
    return [seen(answer) for answer in (added, changed, shipped, read)]


async def test_a_guest_cannot_tell_the_stock_count_from_one_unit_more(
    shop: Shop, shop_settings: Settings
) -> None:
    variant = await shop.variant(on_hand=5)
    await shop.execute(  # 2 of the 5 units are held by someone's checkout: 3 available
        "UPDATE catalog_variant_stock SET reserved = 2 WHERE variant_id = :id", id=variant
    )
    async with api_of(shop_settings) as api:
        at_the_count = await guest_answers(api, variant, 3)
        one_more = await guest_answers(api, variant, 4)
        far_more = await guest_answers(api, variant, 20)

    assert at_the_count == one_more == far_more
    assert at_the_count[0] == (200, ["available"], False, False)
    assert at_the_count[-1] == (200, ["available"], False, True)


async def test_checkout_refuses_more_than_the_stock_and_reserves_nothing(
    shop: Shop, shop_settings: Settings
) -> None:
    variant = await shop.variant(on_hand=3)
    async with api_of(shop_settings) as api:
        me = await customer(api, shop_settings)
        line = {"variant_id": str(variant), "quantity": 4, "currency": "EUR"}
        assert (await api.post(LINES, json=line, headers=me)).status_code == 200
        cart = await api.put(
            "/api/v1/cart/shipping", json={"address": ADDRESS, "method": "standard"}, headers=me
        )
        assert seen(cart) == (200, ["available"], False, True)

        refused = await api.post("/api/v1/checkout", json={}, headers=me | {"Idempotency-Key": "a"})

        body = problem(refused, 409, "out-of-stock")
        assert not any(char.isdigit() for char in body["detail"])  # no count in it either
        assert await shop.stock(variant) == (3, 0)
        orders = await api.get("/api/v1/orders", headers=me)
        assert orders.json()["items"] == []
        kept = await api.get("/api/v1/cart", headers=me)
        assert [line["quantity"] for line in kept.json()["lines"]] == [4]  # still to review
        await api.put(f"{LINES}/{variant}", json={"quantity": 3}, headers=me)
        placed = await api.post("/api/v1/checkout", json={}, headers=me | {"Idempotency-Key": "b"})
        assert placed.status_code == 201, placed.text
        assert await shop.stock(variant) == (3, 3)


async def test_a_sold_out_variant_is_refused_whatever_the_quantity(
    shop: Shop, shop_settings: Settings
) -> None:
    sold_out, in_stock = await shop.variant(on_hand=0), await shop.variant(on_hand=2)
    async with api_of(shop_settings) as api:
        guest = {"Cart-Token": (await api.post("/api/v1/cart")).json()["cart_token"]}
        for quantity in (1, 20):
            line = {"variant_id": str(sold_out), "quantity": quantity, "currency": "EUR"}
            problem(await api.post(LINES, json=line, headers=guest), 409, "not-enough-stock")
        line = {"variant_id": str(in_stock), "quantity": 5, "currency": "EUR"}
        assert (await api.post(LINES, json=line, headers=guest)).status_code == 200
        await shop.execute(
            "UPDATE catalog_variant_stock SET reserved = 2 WHERE variant_id = :id", id=in_stock
        )
        gone = await api.get("/api/v1/cart", headers=guest)

    assert seen(gone) == (200, ["not_enough_stock"], True, False)


async def test_with_counts_shown_a_line_beyond_the_stock_is_refused(
    shop: Shop, shop_settings: Settings
) -> None:
    variant = await shop.variant(on_hand=3)
    shown = shop_settings.with_section(CatalogSettings(expose_stock_counts=True))
    async with api_of(shown) as api:
        guest = {"Cart-Token": (await api.post("/api/v1/cart")).json()["cart_token"]}
        line = {"variant_id": str(variant), "currency": "EUR"}
        problem(
            await api.post(LINES, json=line | {"quantity": 4}, headers=guest),
            409,
            "not-enough-stock",
        )
        added = await api.post(LINES, json=line | {"quantity": 3}, headers=guest)
        assert added.status_code == 200, added.text
        await shop.execute(
            "UPDATE catalog_variant_stock SET reserved = 1 WHERE variant_id = :id", id=variant
        )
        short = await api.get("/api/v1/cart", headers=guest)

    assert seen(short) == (200, ["not_enough_stock"], True, False)
