"""Orders' queries. Never commits; takes row locks in one place (`order_for_update`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mercato.orders.errors import DuplicateShippingMethod
from mercato.orders.models import (
    Cart,
    CartLine,
    CheckoutSaga,
    Order,
    OrderHistory,
    OrderLine,
    ShippingMethod,
    ShippingPrice,
    TaxRate,
)
from mercato.platform.db.database import WriteSession
from mercato.platform.db.sqlstates import UNIQUE_VIOLATION, sqlstate_of


class OrdersReads:
    """Reads, on any session (the replica's for lists, the primary's for read-your-writes)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def customer_cart(self, customer_id: uuid.UUID) -> Cart | None:
        return await self.session.scalar(select(Cart).where(Cart.customer_id == customer_id))

    async def guest_cart(self, token_hash: bytes) -> Cart | None:
        return await self.session.scalar(select(Cart).where(Cart.token_hash == token_hash))

    async def cart_lines(self, cart_id: uuid.UUID) -> list[CartLine]:
        rows = await self.session.scalars(
            select(CartLine)
            .where(CartLine.cart_id == cart_id)
            .order_by(CartLine.added_at, CartLine.variant_id)
        )
        return list(rows)

    async def shipping_method(self, method_id: uuid.UUID) -> ShippingMethod | None:
        return await self.session.get(ShippingMethod, method_id)

    async def shipping_method_by_code(self, code: str) -> ShippingMethod | None:
        return await self.session.scalar(select(ShippingMethod).where(ShippingMethod.code == code))

    async def shipping_methods(self, *, active_only: bool) -> list[ShippingMethod]:
        query = select(ShippingMethod).order_by(ShippingMethod.code)
        if active_only:
            query = query.where(ShippingMethod.active.is_(True))
        return list(await self.session.scalars(query))

    async def shipping_prices(self, method_ids: Sequence[uuid.UUID]) -> list[ShippingPrice]:
        if not method_ids:
            return []
        rows = await self.session.scalars(
            select(ShippingPrice)
            .where(ShippingPrice.method_id.in_(method_ids))
            .order_by(ShippingPrice.method_id, ShippingPrice.currency)
        )
        return list(rows)

    async def shipping_price(self, method_id: uuid.UUID, currency: str) -> int | None:
        return await self.session.scalar(
            select(ShippingPrice.price_minor).where(
                ShippingPrice.method_id == method_id, ShippingPrice.currency == currency
            )
        )

    async def tax_rate(self, country: str) -> int | None:
        return await self.session.scalar(select(TaxRate.rate_bp).where(TaxRate.country == country))

    async def tax_rates(self) -> list[TaxRate]:
        return list(await self.session.scalars(select(TaxRate).order_by(TaxRate.country)))

    async def order(self, order_id: uuid.UUID) -> Order | None:
        return await self.session.get(Order, order_id)

    async def order_lines(self, order_id: uuid.UUID) -> list[OrderLine]:
        rows = await self.session.scalars(
            select(OrderLine).where(OrderLine.order_id == order_id).order_by(OrderLine.position)
        )
        return list(rows)

    async def saga(self, order_id: uuid.UUID) -> CheckoutSaga | None:
        return await self.session.get(CheckoutSaga, order_id)

    async def history(self, order_id: uuid.UUID) -> list[OrderHistory]:
        rows = await self.session.scalars(
            select(OrderHistory).where(OrderHistory.order_id == order_id).order_by(OrderHistory.id)
        )
        return list(rows)


class OrdersRepository(OrdersReads):
    """Writes, on the unit of work's session."""

    def __init__(self, session: WriteSession) -> None:
        super().__init__(session)

    async def order_for_update(self, order_id: uuid.UUID) -> Order | None:
        """The order under its row lock: every change of an order and of its saga is made
        holding it, so saga steps of one order never interleave."""
        return await self.session.scalar(
            select(Order).where(Order.id == order_id).with_for_update()
        )

    async def cart_for_update(self, cart_id: uuid.UUID) -> Cart | None:
        return await self.session.scalar(select(Cart).where(Cart.id == cart_id).with_for_update())

    async def customer_cart_for_update(self, customer_id: uuid.UUID) -> Cart | None:
        return await self.session.scalar(
            select(Cart).where(Cart.customer_id == customer_id).with_for_update()
        )

    async def guest_cart_for_update(self, token_hash: bytes) -> Cart | None:
        return await self.session.scalar(
            select(Cart).where(Cart.token_hash == token_hash).with_for_update()
        )

    async def add_customer_cart(self, cart: Cart) -> Cart:
        """Insert the customer's cart unless a concurrent request just did; either way,
        the one cart of that customer, locked."""
        await self.session.execute(
            insert(Cart)
            .values(id=cart.id, customer_id=cart.customer_id, currency=cart.currency)
            .on_conflict_do_nothing(
                index_elements=[Cart.customer_id], index_where=Cart.customer_id.isnot(None)
            )
        )
        assert cart.customer_id is not None
        found = await self.customer_cart_for_update(cart.customer_id)
        assert found is not None
        return found

    async def put_line(self, line: CartLine) -> None:
        await self.session.execute(
            insert(CartLine)
            .values(
                cart_id=line.cart_id,
                variant_id=line.variant_id,
                quantity=line.quantity,
                added_unit_price_minor=line.added_unit_price_minor,
            )
            .on_conflict_do_update(
                index_elements=[CartLine.cart_id, CartLine.variant_id],
                set_={
                    "quantity": line.quantity,
                    "added_unit_price_minor": line.added_unit_price_minor,
                },
            )
        )

    async def remove_line(self, cart_id: uuid.UUID, variant_id: uuid.UUID) -> bool:
        result = await self.session.execute(
            delete(CartLine).where(CartLine.cart_id == cart_id, CartLine.variant_id == variant_id)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def empty_cart(self, cart_id: uuid.UUID) -> None:
        await self.session.execute(delete(CartLine).where(CartLine.cart_id == cart_id))

    async def delete_cart(self, cart_id: uuid.UUID) -> None:
        await self.session.execute(delete(Cart).where(Cart.id == cart_id))

    async def add_shipping_method(self, method: ShippingMethod) -> None:
        """Insert it; `DuplicateShippingMethod` if its code is taken."""
        try:
            async with self.session.begin_nested():
                self.session.add(method)
                await self.session.flush()
        except IntegrityError as error:
            if sqlstate_of(error) == UNIQUE_VIOLATION:
                raise DuplicateShippingMethod() from None
            raise

    def add(self, row: object) -> None:
        self.session.add(row)

    async def flush(self) -> None:
        await self.session.flush()

    async def saga_for_update(self, order_id: uuid.UUID) -> CheckoutSaga | None:
        return await self.session.scalar(
            select(CheckoutSaga).where(CheckoutSaga.order_id == order_id).with_for_update()
        )

    async def touch_saga(self, order_id: uuid.UUID) -> None:
        await self.session.execute(
            update(CheckoutSaga)
            .where(CheckoutSaga.order_id == order_id)
            .values(attempts=CheckoutSaga.attempts + 1)
        )
