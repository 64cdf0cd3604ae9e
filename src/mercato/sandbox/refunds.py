"""Refunds: Σ refunds ≤ captured, enforced by one conditional UPDATE.

`amount_refunded = amount_refunded + N WHERE amount_refunded + N <= amount_received` runs
under the row lock the UPDATE takes: a concurrent refund waits, then re-evaluates the
condition against the committed total (PostgreSQL re-checks the WHERE of a blocked UPDATE
on the new row version), so two refunds can never both fit into the same remainder. The
table's CHECK is the last guard.
"""

from __future__ import annotations

from sqlalchemy import RowMapping, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from mercato.sandbox import ledger
from mercato.sandbox.errors import SandboxError, not_found, unexpected_state
from mercato.sandbox.events import EventLog
from mercato.sandbox.resources import new_id, refund_json
from mercato.sandbox.schema import payment_intent, refund


class Refunds:
    """The refund use cases; each runs inside the caller's transaction."""

    def __init__(self, *, events: EventLog) -> None:
        self._events = events

    async def create(
        self, connection: AsyncConnection, *, intent_id: str, amount: int | None
    ) -> RowMapping:
        intent = (
            (
                await connection.execute(
                    select(payment_intent).where(payment_intent.c.id == intent_id)
                )
            )
            .mappings()
            .first()
        )
        if intent is None:
            raise not_found("payment_intent", param="payment_intent")
        if intent["status"] != "succeeded":
            raise unexpected_state("payment_intent", intent["status"], "refund")
        remaining = intent["amount_received"] - intent["amount_refunded"]
        if remaining <= 0:
            raise SandboxError(
                400, "charge_already_refunded", "This payment has already been fully refunded."
            )
        to_refund = amount if amount is not None else remaining
        refunded = await connection.scalar(
            update(payment_intent)
            .where(
                payment_intent.c.id == intent_id,
                payment_intent.c.status == "succeeded",
                payment_intent.c.amount_refunded + to_refund <= payment_intent.c.amount_received,
            )
            .values(amount_refunded=payment_intent.c.amount_refunded + to_refund)
            .returning(payment_intent.c.amount_refunded)
        )
        if refunded is None:
            raise SandboxError(
                400,
                "amount_too_large",
                "The refund amount exceeds what is left to refund on this payment.",
                param="amount",
            )
        created = (
            (
                await connection.execute(
                    insert(refund)
                    .values(
                        id=new_id("re"),
                        payment_intent=intent_id,
                        amount=to_refund,
                        currency=intent["currency"],
                        status="succeeded",
                    )
                    .returning(*refund.c)
                )
            )
            .mappings()
            .one()
        )
        await ledger.record(
            connection, kind=ledger.EntryKind.REFUND, intent=intent, amount=to_refund
        )
        await self._events.emit(
            connection, event_type="refund.succeeded", data_object=refund_json(created)
        )
        return created

    async def get(self, connection: AsyncConnection, refund_id: str) -> RowMapping:
        found = (
            (await connection.execute(select(refund).where(refund.c.id == refund_id)))
            .mappings()
            .first()
        )
        if found is None:
            raise not_found("refund")
        return found
