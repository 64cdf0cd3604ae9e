"""Orders' HTTP API over the real app: guest carts and their merge at sign-in, line rules,
shipping, checkout's answers (and its problems), customers' own orders (IDOR → 404)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from mercato.orders import api as orders_api
from mercato.platform.config import Settings
from tests.integration.orders.conftest import Shop
from tests.integration.orders.http_support import api_of, signed_in

ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "12 rue des Lilas",
    "city": "Lyon",
    "postal_code": "69003",
    "country": "fr",
}


@pytest.fixture
async def api(shop_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with api_of(shop_settings) as client:
        yield client


async def customer(api: httpx.AsyncClient, shop_settings: Settings) -> dict[str, str]:
    headers, _ = await signed_in(api, shop_settings)
    return headers


async def ready_cart(api: httpx.AsyncClient, headers: dict[str, str], variant: uuid.UUID) -> None:
    """One unit of `variant` in the cart, shipped to ADDRESS by the standard method."""
    added = await api.post(
        "/api/v1/cart/lines",
        json={"variant_id": str(variant), "quantity": 1, "currency": "EUR"},
        headers=headers,
    )
    assert added.status_code in {200, 201}, added.text
    shipped = await api.put(
        "/api/v1/cart/shipping", json={"address": ADDRESS, "method": "standard"}, headers=headers
    )
    assert shipped.status_code == 200, shipped.text


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["type"] == f"/problems/{code}", body
    return body


async def test_a_guest_cart_is_reached_by_its_token_only_and_merged_at_sign_in(
    api: httpx.AsyncClient, shop: Shop, shop_settings: Settings
) -> None:
    variant = await shop.variant(on_hand=10, price_minor=700)
    opened = await api.post("/api/v1/cart")
    assert opened.status_code == 200, opened.text
    token = opened.json()["cart_token"]
    assert token
    assert len(token) >= 40
    guest = {"Cart-Token": token}

    added = await api.post(
        "/api/v1/cart/lines",
        json={"variant_id": str(variant), "quantity": 2, "currency": "EUR"},
        headers=guest,
    )
    assert added.status_code == 200, added.text
    assert added.json()["cart_token"] is None  # shown once, never again
    assert [line["quantity"] for line in added.json()["lines"]] == [2]
    problem(await api.get("/api/v1/cart"), 404, "cart-not-found")
    problem(await api.get("/api/v1/cart", headers={"Cart-Token": "x" * 43}), 404, "cart-not-found")
    stored = await shop.scalar(
        "SELECT count(*) FROM orders_cart"
        " WHERE token_hash = sha256(convert_to(CAST(:t AS text), 'UTF8'))",
        t=token,
    )
    assert stored == 1  # kept as its SHA-256 only

    signed_in = await customer(api, shop_settings)
    await api.post(
        "/api/v1/cart/lines",
        json={"variant_id": str(variant), "quantity": 1, "currency": "EUR"},
        headers=signed_in,
    )
    merged = await api.get("/api/v1/cart", headers=signed_in | guest)

    assert merged.status_code == 200, merged.text
    assert [line["quantity"] for line in merged.json()["lines"]] == [3]
    problem(await api.get("/api/v1/cart", headers=guest), 404, "cart-not-found")  # merged away


async def test_cart_lines_keep_to_their_rules(
    api: httpx.AsyncClient, shop: Shop, shop_settings: Settings
) -> None:
    variant, other = await shop.variant(on_hand=3), await shop.variant(on_hand=50)
    sold_out = await shop.variant(on_hand=0)
    me = await customer(api, shop_settings)

    problem(
        await api.post(
            "/api/v1/cart/lines", json={"variant_id": str(variant), "quantity": 1}, headers=me
        ),
        422,
        "currency-required",
    )
    problem(
        await api.post(
            "/api/v1/cart/lines",
            json={"variant_id": str(uuid.uuid4()), "quantity": 1, "currency": "EUR"},
            headers=me,
        ),
        422,
        "variant-not-sellable",
    )
    problem(
        await api.post(
            "/api/v1/cart/lines",
            json={"variant_id": str(sold_out), "quantity": 1, "currency": "EUR"},
            headers=me,
        ),
        409,
        "not-enough-stock",
    )
    problem(
        await api.post(
            "/api/v1/cart/lines",
            json={"variant_id": str(other), "quantity": 21, "currency": "EUR"},
            headers=me,
        ),
        422,
        "quantity-too-large",
    )
    ok = await api.post(
        "/api/v1/cart/lines",
        json={"variant_id": str(other), "quantity": 1, "currency": "EUR"},
        headers=me,
    )
    assert ok.status_code == 200, ok.text
    problem(
        await api.post(
            "/api/v1/cart/lines",
            json={"variant_id": str(variant), "quantity": 1, "currency": "USD"},
            headers=me,
        ),
        409,
        "cart-currency-mismatch",
    )
    for hostile in ({"quantity": 0}, {"quantity": 2**40}, {"quantity": "1\x00"}):
        response = await api.put(f"/api/v1/cart/lines/{other}", json=hostile, headers=me)
        assert response.status_code == 422, response.text
    removed = await api.delete(f"/api/v1/cart/lines/{other}", headers=me)
    assert removed.json()["lines"] == []
    problem(await api.delete(f"/api/v1/cart/lines/{other}", headers=me), 404, "cart-line-not-found")


async def test_shipping_sets_totals_and_a_price_change_is_signalled(
    api: httpx.AsyncClient, shop: Shop, shop_settings: Settings
) -> None:
    variant = await shop.variant(on_hand=10, price_minor=1_999)
    me = await customer(api, shop_settings)
    await api.post(
        "/api/v1/cart/lines",
        json={"variant_id": str(variant), "quantity": 3, "currency": "EUR"},
        headers=me,
    )
    bad = await api.put(
        "/api/v1/cart/shipping",
        json={"address": ADDRESS | {"country": "XX"}, "method": "standard"},
        headers=me,
    )
    assert bad.status_code == 422, bad.text
    missing = await api.put(
        "/api/v1/cart/shipping",
        json={"address": {k: v for k, v in ADDRESS.items() if k != "city"}, "method": "standard"},
        headers=me,
    )
    assert missing.status_code == 422, missing.text

    cart = await api.put(
        "/api/v1/cart/shipping", json={"address": ADDRESS, "method": "standard"}, headers=me
    )

    assert cart.status_code == 200, cart.text
    body = cart.json()
    assert body["shipping_address"]["country"] == "FR"
    # 3 * 1999 = 5997, + 500 shipping = 6497, 20 % = 1299.4 → 1299 (half up).
    assert body["totals"] == {
        "subtotal_minor": 5997,
        "shipping_minor": 500,
        "tax_minor": 1299,
        "tax_rate_bp": 2000,
        "total_minor": 7796,
    }
    assert body["ready_for_checkout"] is True
    assert body["changed"] is False
    stored = await shop.scalar(
        "SELECT shipping_address_encrypted::text FROM orders_cart WHERE id = :id",
        id=uuid.UUID(body["id"]),
    )
    assert "Lovelace" not in str(stored)
    assert '"ct"' in str(stored)

    await shop.execute(
        "UPDATE catalog_variant_price SET amount_minor = 2199 WHERE variant_id = :id", id=variant
    )
    changed = (await api.get("/api/v1/cart", headers=me)).json()
    assert changed["changed"] is True
    assert changed["lines"][0]["price_changed"] is True
    assert changed["lines"][0]["added_unit_price_minor"] == 1999
    assert changed["lines"][0]["unit_price_minor"] == 2199


async def test_a_checkout_retried_after_its_process_died_before_calling_payments_gets_its_intent(
    api: httpx.AsyncClient, shop: Shop, shop_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first request committed the order and died before asking payments (the client
    saw no answer): the retry with the same key answers the same order, ready to pay."""
    variant = await shop.variant(on_hand=1, price_minor=1_000)
    me = await customer(api, shop_settings)
    await ready_cart(api, me, variant)

    async def died(*args: object, **kwargs: object) -> None:
        raise ConnectionAbortedError("the process died after its commit")

    with monkeypatch.context() as patched:
        patched.setattr(orders_api, "create_intent_step", died)
        lost = await api.post("/api/v1/checkout", json={}, headers=me | {"Idempotency-Key": "k9"})
        assert lost.status_code == 500  # what the client sees is no answer at all
    retried = await api.post("/api/v1/checkout", json={}, headers=me | {"Idempotency-Key": "k9"})

    assert retried.status_code == 201, retried.text
    assert retried.headers["idempotent-replayed"] == "true"
    order = retried.json()
    assert order["payment"]["status"] == "requires_payment"
    assert order["payment"]["confirm_url"].endswith(
        f"/payment_intents/{order['payment']['intent_id']}/confirm"
    )
    again = await api.post("/api/v1/checkout", json={}, headers=me | {"Idempotency-Key": "k9"})
    assert again.json()["payment"]["intent_id"] == order["payment"]["intent_id"]
    assert await shop.stock(variant) == (1, 1)


async def test_checkout_answers_the_order_to_pay_and_the_customer_sees_only_their_own(
    api: httpx.AsyncClient, shop: Shop, shop_settings: Settings
) -> None:
    variant = await shop.variant(on_hand=1, price_minor=1_000)
    me, someone = await customer(api, shop_settings), await customer(api, shop_settings)
    for headers in (me, someone):
        await ready_cart(api, headers, variant)

    problem(
        await api.post("/api/v1/checkout", json={}, headers=me), 400, "idempotency-key-required"
    )
    problem(
        await api.post(
            "/api/v1/checkout",
            json={"expected_total_minor": 1},
            headers=me | {"Idempotency-Key": "k0"},
        ),
        409,
        "cart-changed",
    )
    created = await api.post("/api/v1/checkout", json={}, headers=me | {"Idempotency-Key": "k1"})

    assert created.status_code == 201, created.text
    order = created.json()
    assert created.headers["location"] == f"/api/v1/orders/{order['id']}"
    assert order["status"] == "pending_payment"
    assert order["total_minor"] == 1800
    assert order["payment"]["status"] == "requires_payment"
    assert order["payment"]["confirm_url"].endswith(
        f"/payment_intents/{order['payment']['intent_id']}/confirm"
    )
    replay = await api.post("/api/v1/checkout", json={}, headers=me | {"Idempotency-Key": "k1"})
    assert replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["id"] == order["id"]
    problem(
        await api.post("/api/v1/checkout", json={}, headers=someone | {"Idempotency-Key": "k1"}),
        409,
        "out-of-stock",
    )

    mine = await api.get("/api/v1/orders", headers=me)
    assert [item["id"] for item in mine.json()["items"]] == [order["id"]]
    assert (await api.get("/api/v1/orders", headers=someone)).json()["items"] == []
    problem(await api.get(f"/api/v1/orders/{order['id']}", headers=someone), 404, "order-not-found")
    problem(
        await api.post(f"/api/v1/orders/{order['id']}/cancel", headers=someone),
        404,
        "order-not-found",
    )
    assert (await api.get("/api/v1/orders?cursor=bm90LWEtY3Vyc29y", headers=me)).status_code == 422

    canceled = await api.post(f"/api/v1/orders/{order['id']}/cancel", headers=me)
    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["status"] == "canceled"
    assert await shop.stock(variant) == (1, 0)
    problem(
        await api.post(f"/api/v1/orders/{order['id']}/cancel", headers=me),
        409,
        "illegal-order-transition",
    )
