"""The checkout saga end to end: the real payments service and sandbox provider, the API's
worker consuming payments' events and running the saga's jobs."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import text

from mercato.orders import lifecycle, saga
from mercato.orders.saga import customer_actor
from mercato.orders.saga_payments import create_intent_step
from mercato.orders.saga_sweeps import expire_overdue_orders, resume_stale_sagas
from mercato.platform.ids import uuid7
from tests.integration.orders.conftest import Shop
from tests.support.payments_service import PaymentsService

pytestmark = pytest.mark.usefixtures("running_worker")


async def eventually(
    check: Callable[[], Awaitable[object]], expected: object, *, seconds: float = 30
) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        value = await check()
        if value == expected:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"still {value!r}, expected {expected!r}")
        await asyncio.sleep(0.1)


async def placed_with_intent(
    shop: Shop, *, on_hand: int = 5, quantity: int = 1
) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """(variant, order, intent) of a fresh checkout whose intent exists."""
    variant = await shop.variant(on_hand=on_hand)
    customer = uuid7()
    await shop.ready_cart(customer, {variant: quantity})
    placed = await shop.checkout(customer)
    assert placed.order_id is not None
    intent = await create_intent_step(
        shop.runtime.unit_of_work, shop.orders.payments, order_id=placed.order_id
    )
    assert intent is not None
    return variant, placed.order_id, intent.id


def status_of(shop: Shop, order_id: uuid.UUID) -> Callable[[], Awaitable[object]]:
    return lambda: shop.scalar("SELECT status FROM orders_order WHERE id = :id", id=order_id)


def saga_of(shop: Shop, order_id: uuid.UUID) -> Callable[[], Awaitable[object]]:
    return lambda: shop.scalar(
        "SELECT row(stock, payment, status)::text FROM orders_checkout_saga WHERE order_id = :id",
        id=order_id,
    )


async def history(shop: Shop, order_id: uuid.UUID) -> list[str]:
    async with shop.database.session() as session:
        rows = await session.execute(
            text("SELECT event, actor FROM orders_order_history WHERE order_id = :id ORDER BY id"),
            {"id": order_id},
        )
        return [f"{event} by {actor}" for event, actor in rows]


async def test_a_successful_payment_makes_the_order_paid_and_commits_its_stock(
    shop: Shop, payments: PaymentsService
) -> None:
    variant, order_id, intent_id = await placed_with_intent(shop, on_hand=5, quantity=2)

    confirmed = await payments.confirm(str(intent_id), "pm_card_visa")
    assert confirmed.status_code == 200, confirmed.text

    await eventually(status_of(shop, order_id), "paid")
    assert await saga_of(shop, order_id)() == "(committed,succeeded,completed)"
    assert await shop.stock(variant) == (3, 0)  # on hand and reserved both down by 2
    assert (await history(shop, order_id))[-1] == "paid by payments"


async def test_a_declined_payment_cancels_the_order_releases_its_stock_and_its_intent(
    shop: Shop, payments: PaymentsService
) -> None:
    variant, order_id, intent_id = await placed_with_intent(shop, on_hand=4)

    declined = await payments.confirm(str(intent_id), "pm_card_declined")
    assert declined.status_code in {200, 402}, declined.text

    await eventually(status_of(shop, order_id), "canceled")
    assert await shop.stock(variant) == (4, 0)
    await eventually(saga_of(shop, order_id), "(released,canceled,compensated)")
    intent = await payments.intent(str(intent_id))
    assert intent["status"] == "canceled"  # compensation: nothing can be paid on it now


async def test_a_customer_cancel_gives_the_stock_back_and_cancels_the_intent(
    shop: Shop, payments: PaymentsService
) -> None:
    variant, order_id, intent_id = await placed_with_intent(shop, on_hand=2, quantity=2)
    customer = await shop.scalar("SELECT customer_id FROM orders_order WHERE id = :id", id=order_id)
    assert isinstance(customer, uuid.UUID)

    await lifecycle.cancel_order(
        shop.runtime.unit_of_work(),
        order_id=order_id,
        actor=customer_actor(customer),
        customer_id=customer,
    )

    assert await shop.stock(variant) == (2, 0)  # at once, in the cancel's transaction
    await eventually(saga_of(shop, order_id), "(released,canceled,compensated)")
    assert (await payments.intent(str(intent_id)))["status"] == "canceled"
    assert (await history(shop, order_id))[-1] == f"canceled by customer:{customer}"


async def test_a_payment_that_succeeds_after_the_reservation_expired_is_refunded(
    shop: Shop, payments: PaymentsService
) -> None:
    variant, order_id, intent_id = await placed_with_intent(shop, on_hand=3)
    # The card settles later (the provider says "processing", then succeeds by webhook).
    confirmed = await payments.confirm(str(intent_id), "pm_card_async")
    assert confirmed.status_code == 200, confirmed.text
    await shop.execute(
        "UPDATE orders_order SET reserved_until = now() - interval '1 second' WHERE id = :id",
        id=order_id,
    )

    assert await expire_overdue_orders(shop.runtime.unit_of_work) >= 1

    assert await status_of(shop, order_id)() == "canceled"
    assert await shop.stock(variant) == (3, 0)  # the stock went back on sale at expiry
    await eventually(saga_of(shop, order_id), "(released,refunded,compensated)", seconds=60)
    intent = await payments.intent(str(intent_id))
    assert intent["amount_refunded"] == intent["amount_received"] > 0
    events = await history(shop, order_id)
    assert events[-3:] == [
        "canceled by system:expiry",
        "late_payment by payments",
        "late_payment_refunded by system:checkout",
    ]
    assert await status_of(shop, order_id)() == "canceled"


async def test_a_checkout_whose_process_died_before_asking_payments_is_resumed(
    shop: Shop,
) -> None:
    """The checkout committed, then its process died before the intent was asked for:
    the resume sweep finds the waiting step and the saga's job completes it."""

    variant = await shop.variant(on_hand=2)
    customer = uuid7()
    await shop.ready_cart(customer, {variant: 1})
    placed = await shop.checkout(customer)  # no intent asked: "the process died here"
    assert placed.order_id is not None
    await shop.execute(
        "UPDATE orders_checkout_saga SET updated_at = now() - interval '1 minute'"
        " WHERE order_id = :id",
        id=placed.order_id,
    )

    assert await resume_stale_sagas(shop.runtime.unit_of_work, stale_after_s=30) >= 1

    await eventually(saga_of(shop, placed.order_id), "(reserved,intent_created,running)")


async def test_a_foreign_or_short_payment_does_not_pay_the_order(shop: Shop) -> None:
    """An event of another intent naming the order (any payments client may set a
    reference), or one that received less than the total, leaves it unpaid."""
    variant, order_id, intent_id = await placed_with_intent(shop, on_hand=5)
    total = await shop.scalar("SELECT total_minor FROM orders_order WHERE id = :id", id=order_id)
    assert isinstance(total, int)
    for paying_intent, received in ((uuid7(), total), (intent_id, total - 1)):
        async with shop.runtime.unit_of_work() as uow:
            await saga.payment_succeeded(
                uow, order_id=order_id, intent_id=paying_intent, amount_received=received
            )
            await uow.commit()
        assert await status_of(shop, order_id)() == "pending_payment"
    assert await shop.stock(variant) == (5, 1)  # still reserved, not committed
