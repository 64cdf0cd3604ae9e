"""Checkout on real PostgreSQL: one transaction reserves, orders, writes the saga and the
event; then the intent is asked of the real payments service."""

from __future__ import annotations

import uuid

import pytest

from mercato.catalog import OutOfStock
from mercato.orders.errors import CartChanged, CartEmpty, TooManyPendingOrders
from mercato.orders.saga_payments import create_intent_step
from mercato.platform.ids import uuid7
from tests.integration.orders.conftest import Shop


async def test_a_checkout_reserves_the_stock_and_opens_an_unpaid_order_with_its_saga(
    shop: Shop,
) -> None:
    variant = await shop.variant(on_hand=5, price_minor=1_250)
    customer = uuid7()
    await shop.ready_cart(customer, {variant: 2})

    placed = await shop.checkout(customer)

    assert placed.order_id is not None
    assert await shop.stock(variant) == (5, 2)
    order = await shop.scalar(
        "SELECT row(status, subtotal_minor, shipping_minor, tax_minor, total_minor)::text"
        " FROM orders_order WHERE id = :id",
        id=placed.order_id,
    )
    # 2 * 1250 + 500 shipping, 20 % tax on 3000 = 600.
    assert order == "(pending_payment,2500,500,600,3600)"
    saga = await shop.scalar(
        "SELECT row(stock, payment, status)::text FROM orders_checkout_saga WHERE order_id = :id",
        id=placed.order_id,
    )
    assert saga == "(reserved,intent_pending,running)"
    events = await shop.scalar(
        "SELECT count(*) FROM platform_outbox WHERE name = 'orders.order.placed'"
        " AND aggregate_id = :id",
        id=str(placed.order_id),
    )
    assert events == 1
    lines = await shop.scalar(
        "SELECT count(*) FROM orders_cart_line l JOIN orders_cart c ON c.id = l.cart_id"
        " WHERE c.customer_id = :customer",
        customer=customer,
    )
    assert lines == 0  # the cart is empty once the order is placed


async def test_the_same_idempotency_key_answers_the_same_order_and_reserves_once(
    shop: Shop,
) -> None:
    variant = await shop.variant(on_hand=5)
    customer = uuid7()
    await shop.ready_cart(customer, {variant: 1})

    first = await shop.checkout(customer, key="same-key")
    again = await shop.checkout(customer, key="same-key")

    assert again.order_id is None  # a replay
    assert bytes(again.response.body) == bytes(first.response.body)
    assert await shop.stock(variant) == (5, 1)


async def test_an_empty_cart_cannot_check_out(shop: Shop) -> None:
    with pytest.raises(CartEmpty):
        await shop.checkout(uuid7())


async def test_a_customer_cannot_hoard_stock_with_unpaid_orders(shop: Shop) -> None:
    """Each unpaid order holds its stock until it expires: past the cap, one more is a 409
    and reserves nothing (found by a security review: 2 x 20 units made a product
    unbuyable for everyone else, again and again)."""
    variant = await shop.variant(on_hand=10)
    customer = uuid7()
    for _ in range(2):
        await shop.ready_cart(customer, {variant: 2})
        await shop.checkout(customer, max_pending_orders=2)
    await shop.ready_cart(customer, {variant: 2})
    with pytest.raises(TooManyPendingOrders) as raised:
        await shop.checkout(customer, max_pending_orders=2)
    assert raised.value.code == "too-many-pending-orders"
    assert await shop.stock(variant) == (10, 4)
    # Another customer is not held back by it.
    other = uuid7()
    await shop.ready_cart(other, {variant: 2})
    await shop.checkout(other, max_pending_orders=2)
    assert await shop.stock(variant) == (10, 6)


async def test_out_of_stock_rolls_the_whole_checkout_back(shop: Shop) -> None:
    plenty, scarce = await shop.variant(on_hand=9), await shop.variant(on_hand=3)
    customer = uuid7()
    await shop.ready_cart(customer, {plenty: 2, scarce: 3})
    await shop.execute(
        "UPDATE catalog_variant_stock SET on_hand = 2 WHERE variant_id = :id", id=scarce
    )

    with pytest.raises(OutOfStock) as raised:
        await shop.checkout(customer)

    assert raised.value.code == "out-of-stock"
    assert await shop.stock(plenty) == (9, 0)  # the other line's reservation rolled back
    orders = await shop.scalar(
        "SELECT count(*) FROM orders_order WHERE customer_id = :c", c=customer
    )
    assert orders == 0


async def test_the_intent_is_created_at_payments_with_the_order_id_as_its_key(
    shop: Shop, payments: object
) -> None:
    variant = await shop.variant(on_hand=3)
    customer = uuid7()
    await shop.ready_cart(customer, {variant: 1})
    placed = await shop.checkout(customer)
    assert placed.order_id is not None

    intent = await create_intent_step(
        shop.runtime.unit_of_work, shop.orders.payments, order_id=placed.order_id
    )
    again = await shop.orders.payments.create_intent(
        order_id=placed.order_id, amount=1_800, currency="EUR", customer_id=customer
    )

    assert intent is not None
    assert intent.amount == 1_800  # 1000 + 500 shipping + 20 % tax on 1500
    assert again.id == intent.id  # the order id is the key: one intent, however often asked
    saga = await shop.scalar(
        "SELECT row(payment, intent_id)::text FROM orders_checkout_saga WHERE order_id = :id",
        id=placed.order_id,
    )
    assert saga == f"(intent_created,{intent.id})"
    assert isinstance(uuid.UUID(str(intent.id)), uuid.UUID)


async def test_the_order_keeps_each_line_in_cart_order_with_its_history_and_event(
    shop: Shop,
) -> None:
    first, second = await shop.variant(on_hand=5, price_minor=700), await shop.variant(on_hand=5)
    customer = uuid7()
    await shop.ready_cart(customer, {second: 1, first: 3})
    version = await shop.scalar(
        "SELECT version FROM orders_cart WHERE customer_id = :c", c=customer
    )

    placed = await shop.checkout(customer)

    lines = await shop.scalar(
        "SELECT string_agg(row(position, variant_id, unit_price_minor, quantity,"
        " line_total_minor)::text, ' ' ORDER BY position)"
        " FROM orders_order_line WHERE order_id = :id",
        id=placed.order_id,
    )
    assert lines == f"(0,{second},1000,1,1000) (1,{first},700,3,2100)"
    history = await shop.scalar(
        "SELECT string_agg(row(from_status, to_status, event, actor)::text, ' ')"
        " FROM orders_order_history WHERE order_id = :id",
        id=placed.order_id,
    )
    assert history == f"(,pending_payment,placed,customer:{customer})"
    event = await shop.scalar(
        "SELECT envelope -> 'payload' FROM platform_outbox"
        " WHERE name = 'orders.order.placed' AND aggregate_id = :id",
        id=str(placed.order_id),
    )
    assert isinstance(event, dict)
    assert [(line["variant_id"], line["quantity"]) for line in event["lines"]] == [
        (str(second), 1),
        (str(first), 3),
    ]
    assert isinstance(version, int)
    after = await shop.scalar("SELECT version FROM orders_cart WHERE customer_id = :c", c=customer)
    assert after == version + 1  # the cart's change is visible to concurrent editors


async def test_a_line_no_longer_for_sale_stops_the_checkout_before_any_reservation(
    shop: Shop,
) -> None:
    on_sale, archived = await shop.variant(on_hand=5), await shop.variant(on_hand=5)
    customer = uuid7()
    await shop.ready_cart(customer, {on_sale: 1, archived: 1})
    await shop.execute("UPDATE catalog_variant SET status = 'archived' WHERE id = :id", id=archived)

    with pytest.raises(CartChanged):
        await shop.checkout(customer)

    assert await shop.stock(on_sale) == (5, 0)
    assert await shop.stock(archived) == (5, 0)
