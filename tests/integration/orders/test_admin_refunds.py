"""The staff's refund route over HTTP, with an order paid through the real payments
service and sandbox provider: in part, then the rest; what is refused (more than is left,
an unpaid order, a caller without `orders:write`); the history and the events it leaves."""

from __future__ import annotations

import uuid

import httpx
import pytest

from mercato.platform.config import Settings
from tests.integration.orders.conftest import Shop
from tests.integration.orders.http_support import api_of, signed_in
from tests.integration.orders.test_api import problem
from tests.integration.orders.test_saga import eventually, placed_with_intent, status_of
from tests.support.payments_service import PaymentsService

pytestmark = pytest.mark.usefixtures("running_worker")


async def paid_order(shop: Shop, payments: PaymentsService) -> tuple[uuid.UUID, uuid.UUID, int]:
    """(order, intent, total) of an order paid with the sandbox's test card."""
    _, order_id, intent_id = await placed_with_intent(shop, on_hand=3)
    assert (await payments.confirm(str(intent_id), "pm_card_visa")).status_code == 200
    await eventually(status_of(shop, order_id), "paid")
    total = await shop.scalar("SELECT total_minor FROM orders_order WHERE id = :id", id=order_id)
    assert isinstance(total, int)
    return order_id, intent_id, total


async def refund(
    api: httpx.AsyncClient, headers: dict[str, str], order_id: uuid.UUID, key: str, **body: int
) -> httpx.Response:
    return await api.post(
        f"/api/v1/admin/orders/{order_id}/refunds",
        json=body,
        headers=headers | {"Idempotency-Key": key},
    )


async def refunded_events(shop: Shop, order_id: uuid.UUID) -> object:
    return await shop.scalar(
        "SELECT string_agg((envelope->'payload'->>'refunded_minor') || ':'"
        " || (envelope->'payload'->>'status'), ',' ORDER BY seq) FROM platform_outbox"
        " WHERE name = 'orders.order.refunded' AND aggregate_id = :id",
        id=str(order_id),
    )


async def test_staff_refund_a_paid_order_in_part_then_in_full(
    shop: Shop, shop_settings: Settings, payments: PaymentsService
) -> None:
    order_id, intent_id, total = await paid_order(shop, payments)
    async with api_of(shop_settings) as api:
        staff, staff_id = await signed_in(api, shop_settings, roles=("staff",))

        part = await refund(api, staff, order_id, "part", amount_minor=500)
        assert part.status_code == 200, part.text
        assert (part.json()["status"], part.json()["refunded_minor"]) == ("partially_refunded", 500)
        replay = await refund(api, staff, order_id, "part", amount_minor=500)
        assert replay.headers["idempotent-replayed"] == "true"
        assert replay.json()["refunded_minor"] == 500
        too_much = await refund(api, staff, order_id, "too-much", amount_minor=total - 499)
        problem(too_much, 409, "refund-too-large")
        rest = await refund(api, staff, order_id, "rest")
        assert rest.status_code == 200, rest.text
        assert (rest.json()["status"], rest.json()["refunded_minor"]) == ("refunded", total)
        problem(await refund(api, staff, order_id, "again"), 409, "illegal-order-transition")
        history = await api.get(f"/api/v1/admin/orders/{order_id}/history", headers=staff)

    assert (await payments.intent(str(intent_id)))["amount_refunded"] == total
    refunds = [entry for entry in history.json()["entries"] if entry["event"] == "refunded"]
    admin = f"admin:{staff_id}"
    assert [(e["from_status"], e["to_status"], e["amount_minor"], e["actor"]) for e in refunds] == [
        ("paid", "partially_refunded", 500, admin),
        ("partially_refunded", "refunded", total - 500, admin),
    ]
    assert await refunded_events(shop, order_id) == f"500:partially_refunded,{total}:refunded"


async def test_an_unpaid_order_is_not_refunded(
    shop: Shop, shop_settings: Settings, payments: PaymentsService
) -> None:
    _, order_id, intent_id = await placed_with_intent(shop, on_hand=1)
    async with api_of(shop_settings) as api:
        staff, _ = await signed_in(api, shop_settings, roles=("staff",))
        problem(await refund(api, staff, order_id, "unpaid"), 409, "illegal-order-transition")
        problem(
            await refund(api, staff, order_id, "unpaid-part", amount_minor=100),
            409,
            "illegal-order-transition",
        )

    assert await status_of(shop, order_id)() == "pending_payment"
    assert (await payments.intent(str(intent_id)))["amount_refunded"] == 0
    assert await refunded_events(shop, order_id) is None


async def test_refunding_needs_orders_write(
    shop: Shop, shop_settings: Settings, payments: PaymentsService
) -> None:
    order_id, intent_id, _ = await paid_order(shop, payments)
    await shop.execute(
        "INSERT INTO identity_role (name, description, rank) VALUES"
        " ('order-viewer', 'Reads orders, changes none', 20) ON CONFLICT DO NOTHING"
    )
    await shop.execute(
        "INSERT INTO identity_role_permission (role, permission) VALUES"
        " ('order-viewer', 'orders:read') ON CONFLICT DO NOTHING"
    )
    async with api_of(shop_settings) as api:
        viewer, _ = await signed_in(api, shop_settings, roles=("order-viewer",))
        buyer, _ = await signed_in(api, shop_settings)
        assert (
            await api.get(f"/api/v1/admin/orders/{order_id}", headers=viewer)
        ).status_code == 200
        for headers in (viewer, buyer):
            response = await refund(api, headers, order_id, "no-right", amount_minor=100)
            assert response.status_code == 403, response.text
            assert response.headers["content-type"].startswith("application/problem+json")
        anonymous = await api.post(
            f"/api/v1/admin/orders/{order_id}/refunds", json={}, headers={"Idempotency-Key": "x"}
        )
        assert anonymous.status_code == 401

    assert (await payments.intent(str(intent_id)))["amount_refunded"] == 0
    assert await status_of(shop, order_id)() == "paid"
