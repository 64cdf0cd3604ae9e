"""Payments' events applied to the saga twice and out of order: one effect each (the inbox
and the saga's persisted state), a paid order never undone by a late failure."""

from __future__ import annotations

import uuid

from mercato.orders import consumers
from mercato.orders.models import CheckoutSaga
from mercato.payments import IntentCanceled, IntentFailed, IntentSucceeded
from mercato.platform.events.consumers import ConsumerGroup, apply_once
from mercato.platform.events.contracts import Envelope, EventPayload
from mercato.platform.ids import uuid7
from tests.integration.orders.conftest import Shop


def _group(shop: Shop) -> ConsumerGroup:
    (group,) = [g for g in consumers.registry(shop.runtime).groups() if g.name == consumers.GROUP]
    assert group.source == "payments"
    return group


async def _placed(shop: Shop, *, on_hand: int) -> tuple[uuid.UUID, uuid.UUID, int]:
    variant = await shop.variant(on_hand=on_hand)
    customer = uuid7()
    await shop.ready_cart(customer, {variant: 1})
    placed = await shop.checkout(customer)
    assert placed.order_id is not None
    total = await shop.scalar(
        "SELECT total_minor FROM orders_order WHERE id = :id", id=placed.order_id
    )
    assert isinstance(total, int)
    return variant, placed.order_id, total


def _envelope(event: EventPayload, intent_id: uuid.UUID) -> Envelope:
    return Envelope.wrap(event, aggregate_id=intent_id)


async def test_a_duplicated_success_pays_once_and_a_late_failure_changes_nothing(
    shop: Shop,
) -> None:
    variant, order_id, total = await _placed(shop, on_hand=5)
    intent_id = uuid7()
    succeeded = _envelope(
        IntentSucceeded(
            intent_id=intent_id,
            order_reference=str(order_id),
            amount=total,
            currency="EUR",
            amount_received=total,
        ),
        intent_id,
    )
    group = _group(shop)

    assert await apply_once(group, succeeded, shop.database) is True
    assert await apply_once(group, succeeded, shop.database) is False  # the inbox has it
    # The same fact under another event id (a provider webhook delivered twice): the saga's
    # state absorbs it.
    twin = succeeded.model_copy(update={"id": uuid7()})
    assert await apply_once(group, twin, shop.database) is True
    late_failure = _envelope(
        IntentFailed(
            intent_id=intent_id,
            order_reference=str(order_id),
            amount=total,
            currency="EUR",
            failure_code="card_declined",
        ),
        intent_id,
    )
    await apply_once(group, late_failure, shop.database)

    assert (
        await shop.scalar("SELECT status FROM orders_order WHERE id = :id", id=order_id) == "paid"
    )
    assert await shop.stock(variant) == (4, 0)  # committed once
    paid_events = await shop.scalar(
        "SELECT count(*) FROM platform_outbox"
        " WHERE name = 'orders.order.paid' AND aggregate_id = :id",
        id=str(order_id),
    )
    assert paid_events == 1
    history = await shop.scalar(
        "SELECT string_agg(event, ',' ORDER BY id) FROM orders_order_history WHERE order_id = :id",
        id=order_id,
    )
    assert history == "placed,paid"


async def test_a_cancel_then_a_late_success_refunds_instead_of_paying(shop: Shop) -> None:
    variant, order_id, total = await _placed(shop, on_hand=2)
    intent_id = uuid7()
    group = _group(shop)
    fields = {
        "intent_id": intent_id,
        "order_reference": str(order_id),
        "amount": total,
        "currency": "EUR",
    }

    await apply_once(
        group, _envelope(IntentCanceled(**fields, reason="abandoned"), intent_id), shop.database
    )
    await apply_once(
        group, _envelope(IntentSucceeded(**fields, amount_received=total), intent_id), shop.database
    )

    assert (
        await shop.scalar("SELECT status FROM orders_order WHERE id = :id", id=order_id)
        == "canceled"
    )
    assert await shop.stock(variant) == (2, 0)  # released once, never committed
    async with shop.database.session() as session:
        saga = await session.get(CheckoutSaga, order_id)
        assert saga is not None
        assert (saga.stock, saga.payment) == ("released", "refund_pending")
    jobs = await shop.scalar(
        "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'orders:refund_late_payment'"
        " AND args->>'order_id' = :id",
        id=str(order_id),
    )
    assert jobs == 1


async def test_an_event_about_an_intent_that_is_not_an_order_s_is_ignored(shop: Shop) -> None:
    intent_id = uuid7()
    stranger = _envelope(
        IntentSucceeded(
            intent_id=intent_id,
            order_reference="ord_from_elsewhere",
            amount=100,
            currency="EUR",
            amount_received=100,
        ),
        intent_id,
    )
    unknown = _envelope(
        IntentSucceeded(
            intent_id=intent_id,
            order_reference=str(uuid7()),
            amount=100,
            currency="EUR",
            amount_received=100,
        ),
        intent_id,
    )

    assert await apply_once(_group(shop), stranger, shop.database) is True
    assert await apply_once(_group(shop), unknown, shop.database) is True
