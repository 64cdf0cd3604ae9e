"""Payment methods: a checked test card kept as brand, last four digits and behaviour."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import RowMapping, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from mercato.sandbox.cards import BY_SHORTCUT, CardBehaviour, recognise_card
from mercato.sandbox.errors import SandboxError
from mercato.sandbox.resources import new_id
from mercato.sandbox.schema import payment_method
from mercato.sandbox.schemas import CardIn


async def create_payment_method(connection: AsyncConnection, card: CardIn) -> RowMapping:
    """Check the card as a processor would and keep only what may be kept."""
    recognised = recognise_card(
        number=card.number,
        exp_month=card.exp_month,
        exp_year=card.exp_year,
        cvc=card.cvc,
        today=dt.datetime.now(dt.UTC).date(),
    )
    result = await connection.execute(
        insert(payment_method)
        .values(
            id=new_id("pm"),
            brand=recognised.brand,
            last4=recognised.last4,
            exp_month=card.exp_month,
            exp_year=card.exp_year,
            behaviour=recognised.behaviour.value,
        )
        .returning(*payment_method.c)
    )
    return result.mappings().one()


async def behaviour_of(connection: AsyncConnection, payment_method_id: str) -> CardBehaviour:
    """What the payment method (a shortcut such as `pm_card_visa`, or one created
    through the API) does when a payment is confirmed with it."""
    shortcut = BY_SHORTCUT.get(payment_method_id)
    if shortcut is not None:
        return shortcut.behaviour
    behaviour = await connection.scalar(
        select(payment_method.c.behaviour).where(payment_method.c.id == payment_method_id)
    )
    if behaviour is None:
        raise SandboxError(
            400, "resource_missing", "No such payment method.", param="payment_method"
        )
    return CardBehaviour(behaviour)
