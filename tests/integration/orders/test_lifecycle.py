"""The use cases the administration routes call: fulfil and refund (through payments),
each a transition of the state machine with its history and event."""

from __future__ import annotations

import asyncio

import pytest

from mercato.orders import lifecycle
from mercato.orders.errors import IllegalTransition, RefundRefused, RefundTooLarge
from mercato.platform.ids import uuid7
from tests.integration.orders.conftest import Shop
from tests.integration.orders.test_saga import eventually, placed_with_intent, status_of
from tests.support.payments_service import PaymentsService

pytestmark = pytest.mark.usefixtures("running_worker")
ADMIN = lifecycle.admin_actor(uuid7())


async def test_a_paid_order_is_fulfilled_then_refunded_in_part_and_in_full(
    shop: Shop, payments: PaymentsService
) -> None:
    _, order_id, intent_id = await placed_with_intent(shop, on_hand=3)
    assert (await payments.confirm(str(intent_id), "pm_card_visa")).status_code == 200
    await eventually(status_of(shop, order_id), "paid")
    total = await shop.scalar("SELECT total_minor FROM orders_order WHERE id = :id", id=order_id)
    assert isinstance(total, int)

    fulfilled = await lifecycle.mark_fulfilled(
        shop.runtime.unit_of_work(), order_id=order_id, actor=ADMIN
    )
    assert fulfilled.status == "fulfilled"
    with pytest.raises(IllegalTransition):
        await lifecycle.mark_fulfilled(shop.runtime.unit_of_work(), order_id=order_id, actor=ADMIN)

    part = await lifecycle.refund_order(
        shop.runtime.unit_of_work,
        shop.orders.payments,
        order_id=order_id,
        amount_minor=500,
        actor=ADMIN,
        key="r1",
    )
    assert (part.status, part.refunded_minor) == ("partially_refunded", 500)
    again = await lifecycle.refund_order(  # the same key: payments refunds once
        shop.runtime.unit_of_work,
        shop.orders.payments,
        order_id=order_id,
        amount_minor=500,
        actor=ADMIN,
        key="r1",
    )
    assert again.refunded_minor == 500
    with pytest.raises(RefundTooLarge):
        await lifecycle.refund_order(
            shop.runtime.unit_of_work,
            shop.orders.payments,
            order_id=order_id,
            amount_minor=total,
            actor=ADMIN,
            key="r2",
        )
    rest = await lifecycle.refund_order(
        shop.runtime.unit_of_work,
        shop.orders.payments,
        order_id=order_id,
        amount_minor=None,
        actor=ADMIN,
        key="r3",
    )

    assert (rest.status, rest.refunded_minor) == ("refunded", total)
    assert (await payments.intent(str(intent_id)))["amount_refunded"] == total
    history = await shop.scalar(
        "SELECT string_agg(event || ':' || coalesce(amount_minor::text, '-') || ':' || actor,"
        " ',' ORDER BY id) FROM orders_order_history WHERE order_id = :id AND event <> 'placed'",
        id=order_id,
    )
    assert history == (
        f"paid:{total}:payments,fulfilled:-:{ADMIN},"
        f"refunded:500:{ADMIN},refunded:{total - 500}:{ADMIN}"
    )
    # payments.refund.succeeded arrives later and changes nothing more.
    await eventually(
        lambda: shop.scalar(
            "SELECT count(*) FROM platform_outbox WHERE name = 'orders.order.refunded'"
            " AND aggregate_id = :id",
            id=str(order_id),
        ),
        2,
    )


async def test_an_unpaid_order_cannot_be_refunded_nor_fulfilled(shop: Shop) -> None:
    _, order_id, _ = await placed_with_intent(shop, on_hand=1)
    with pytest.raises(IllegalTransition):
        await lifecycle.refund_order(
            shop.runtime.unit_of_work,
            shop.orders.payments,
            order_id=order_id,
            amount_minor=None,
            actor=ADMIN,
            key="x",
        )
    with pytest.raises(IllegalTransition):
        await lifecycle.mark_fulfilled(shop.runtime.unit_of_work(), order_id=order_id, actor=ADMIN)


async def test_concurrent_full_refunds_refund_once_and_the_others_are_conflicts(
    shop: Shop, payments: PaymentsService
) -> None:
    """Four staff members refund the whole order at once (other keys): payments refunds
    once; the others are a 409 problem, never a 500 (found by a security review). Refunds
    of one order take turns (its row lock): the later ones find it refunded already."""
    _, order_id, intent_id = await placed_with_intent(shop, on_hand=3)
    assert (await payments.confirm(str(intent_id), "pm_card_visa")).status_code == 200
    await eventually(status_of(shop, order_id), "paid")

    async def refund(key: str) -> str:
        try:
            refunded = await lifecycle.refund_order(
                shop.runtime.unit_of_work,
                shop.orders.payments,
                order_id=order_id,
                amount_minor=None,
                actor=ADMIN,
                key=key,
            )
        except (IllegalTransition, RefundRefused, RefundTooLarge) as conflict:
            return conflict.code
        return refunded.status

    outcomes = await asyncio.gather(*(refund(f"staff-{n}") for n in range(4)))
    assert outcomes.count("refunded") == 1, outcomes
    assert set(outcomes) <= {
        "refunded",
        "illegal-order-transition",
        "refund-refused",
        "refund-too-large",
    }
    intent = await payments.intent(str(intent_id))
    assert intent["amount_refunded"] == intent["amount_received"]
