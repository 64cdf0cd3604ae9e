"""After a field key rotation, the daily job rewrites shipping addresses under the current
key; they read back the same, and the old key is no longer needed."""

from __future__ import annotations

import uuid

from mercato.orders.addresses import open_address
from mercato.orders.carts import CART_TABLE
from mercato.orders.checkout import ORDER_TABLE
from mercato.orders.models import Cart, Order
from mercato.orders.reencryption import reencrypt_addresses
from mercato.platform.ids import uuid7
from mercato.platform.security.fields import FieldKeyRing
from tests.integration.orders.conftest import ADDRESS, Shop


async def test_addresses_under_an_old_key_are_rewritten_under_the_current_one(
    shop: Shop,
) -> None:
    old = shop.orders.field_keys
    variant = await shop.variant(on_hand=3)
    customer = uuid7()
    await shop.ready_cart(customer, {variant: 1})
    placed = await shop.checkout(customer)
    assert placed.order_id is not None
    rotated = old.rotated()
    try:
        await _check(shop, old, rotated, order_id=placed.order_id, customer=customer)
    finally:  # back under the session's key: the database is shared with the other tests
        back = FieldKeyRing(current=old.current, keys=rotated.keys)
        await reencrypt_addresses(shop.runtime.unit_of_work, back)


async def _check(
    shop: Shop,
    old: FieldKeyRing,
    rotated: FieldKeyRing,
    *,
    order_id: uuid.UUID,
    customer: uuid.UUID,
) -> None:
    assert await reencrypt_addresses(shop.runtime.unit_of_work, rotated) >= 2
    assert await reencrypt_addresses(shop.runtime.unit_of_work, rotated) == 0  # all done

    new_only = rotated.without(old.current)
    async with shop.database.session() as session:
        order = await session.get(Order, order_id)
        assert order is not None
        assert order.shipping_address_encrypted["kid"] == rotated.current
        assert (
            open_address(
                new_only, order.shipping_address_encrypted, table=ORDER_TABLE, row_id=order.id
            )
            == ADDRESS
        )
        cart = await shop.scalar("SELECT id FROM orders_cart WHERE customer_id = :c", c=customer)
        stored = await session.get(Cart, cart)
        assert stored is not None
        assert stored.shipping_address_encrypted is not None
        assert (
            open_address(
                new_only, stored.shipping_address_encrypted, table=CART_TABLE, row_id=stored.id
            )
            == ADDRESS
        )
