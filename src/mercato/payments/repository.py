"""Payments queries and writes. Never commits: the use case's unit of work does.

Row locks are taken here, one intent at a time (`intent_for_update`): every change to an
intent, its attempts and its refunds happens under its row lock, so a confirmation, a
webhook and the reconciler never interleave on one payment. Status changes are also
compare-and-set (`WHERE status IN (allowed predecessors)`), the last guard if a lock was
forgotten.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mercato.payments.errors import IntentExistsForOrder, PaymentInProgress
from mercato.payments.models import PaymentAttempt, PaymentIntent, ProviderEvent, Refund
from mercato.payments.states import (
    ACTIVE_ATTEMPTS,
    UNRESOLVED_ATTEMPTS,
    UNRESOLVED_REFUNDS,
    IntentStatus,
    predecessors,
)
from mercato.platform.db.database import WriteSession
from mercato.platform.db.sqlstates import UNIQUE_VIOLATION, sqlstate_of


class PaymentsReads:
    """Queries that only read: usable on a read session or in a use case."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def intent(self, intent_id: uuid.UUID) -> PaymentIntent | None:
        return await self._session.get(PaymentIntent, intent_id)

    async def refunds_of(self, intent_id: uuid.UUID) -> list[Refund]:
        rows = await self._session.scalars(
            select(Refund).where(Refund.intent_id == intent_id).order_by(Refund.created_at)
        )
        return list(rows)

    async def attempts_of(self, intent_id: uuid.UUID) -> list[PaymentAttempt]:
        rows = await self._session.scalars(
            select(PaymentAttempt)
            .where(PaymentAttempt.intent_id == intent_id)
            .order_by(PaymentAttempt.number)
        )
        return list(rows)


class PaymentsRepository(PaymentsReads):
    """Reads and writes on the use case's session."""

    def __init__(self, session: WriteSession) -> None:
        super().__init__(session)

    async def add_intent(self, intent: PaymentIntent) -> None:
        """Insert a new intent (`IntentExistsForOrder` if the order has a live one)."""
        self._session.add(intent)
        try:
            await self._session.flush()
        except IntegrityError as error:
            if sqlstate_of(error) == UNIQUE_VIOLATION:
                raise IntentExistsForOrder() from None
            raise

    async def intent_for_update(self, intent_id: uuid.UUID) -> PaymentIntent | None:
        """The intent, row-locked for the rest of the transaction (fresh from the row)."""
        return await self._session.scalar(
            select(PaymentIntent)
            .where(PaymentIntent.id == intent_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )

    async def intent_by_provider_payment(
        self, *, provider: str, provider_payment_id: str, lock: bool = True
    ) -> PaymentIntent | None:
        query = select(PaymentIntent).where(
            PaymentIntent.provider == provider,
            PaymentIntent.provider_payment_id == provider_payment_id,
        )
        if lock:
            query = query.with_for_update().execution_options(populate_existing=True)
        return await self._session.scalar(query)

    async def move(self, intent: PaymentIntent, target: IntentStatus) -> bool:
        """Compare-and-set the intent's status to `target` (only from a status `target` may
        follow); True if it moved. The row must be locked (`intent_for_update`)."""
        moved = await self._session.scalar(
            update(PaymentIntent)
            .where(
                PaymentIntent.id == intent.id,
                PaymentIntent.status.in_([status.value for status in predecessors(target)]),
            )
            .values(status=target.value, version=PaymentIntent.version + 1, updated_at=func.now())
            .returning(PaymentIntent.version)
        )
        if moved is None:
            return False
        intent.status = target.value
        intent.version = moved
        return True

    async def active_attempt(self, intent_id: uuid.UUID) -> PaymentAttempt | None:
        return await self._session.scalar(
            select(PaymentAttempt).where(
                PaymentAttempt.intent_id == intent_id,
                PaymentAttempt.status.in_([status.value for status in ACTIVE_ATTEMPTS]),
            )
        )

    async def next_attempt_number(self, intent_id: uuid.UUID) -> int:
        last = await self._session.scalar(
            select(func.max(PaymentAttempt.number)).where(PaymentAttempt.intent_id == intent_id)
        )
        return int(last or 0) + 1

    async def add_attempt(self, attempt: PaymentAttempt) -> None:
        """Insert an attempt (`PaymentInProgress` if the intent has an active one)."""
        self._session.add(attempt)
        try:
            await self._session.flush()
        except IntegrityError as error:
            if sqlstate_of(error) == UNIQUE_VIOLATION:
                raise PaymentInProgress() from None
            raise

    async def hold_refund(self, intent: PaymentIntent, amount: int) -> bool:
        """Hold `amount` of the captured money for a refund, atomically: False if the
        refunds (pending, unknown and done) would exceed what was captured."""
        held = await self._session.scalar(
            update(PaymentIntent)
            .where(
                PaymentIntent.id == intent.id,
                PaymentIntent.amount_refunded + amount <= PaymentIntent.amount_received,
            )
            .values(amount_refunded=PaymentIntent.amount_refunded + amount, updated_at=func.now())
            .returning(PaymentIntent.amount_refunded)
        )
        if held is None:
            return False
        intent.amount_refunded = held
        return True

    async def release_refund(self, intent: PaymentIntent, amount: int) -> None:
        """Give back what a failed refund held."""
        released = await self._session.scalar(
            update(PaymentIntent)
            .where(PaymentIntent.id == intent.id)
            .values(
                amount_refunded=func.greatest(PaymentIntent.amount_refunded - amount, 0),
                updated_at=func.now(),
            )
            .returning(PaymentIntent.amount_refunded)
        )
        intent.amount_refunded = int(released or 0)

    def add(self, row: Refund | PaymentAttempt) -> None:
        self._session.add(row)

    async def refund_for_update(self, refund_id: uuid.UUID) -> Refund | None:
        return await self._session.scalar(
            select(Refund)
            .where(Refund.id == refund_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )

    async def record_provider_event(self, event: ProviderEvent) -> bool:
        """Insert a provider webhook once: False if its id was seen before (a redelivery)."""
        self._session.add(event)
        try:
            async with self._session.begin_nested():
                await self._session.flush()
        except IntegrityError as error:
            if sqlstate_of(error) == UNIQUE_VIOLATION:
                return False
            raise
        return True

    async def attempts_to_check(self, *, now: dt.datetime, limit: int) -> list[PaymentAttempt]:
        """Attempts whose outcome we do not know and whose next check is due."""
        rows = await self._session.scalars(
            select(PaymentAttempt)
            .where(
                PaymentAttempt.status.in_([status.value for status in UNRESOLVED_ATTEMPTS]),
                or_(PaymentAttempt.next_check_at.is_(None), PaymentAttempt.next_check_at <= now),
            )
            .order_by(PaymentAttempt.next_check_at.nulls_first())
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list(rows)

    async def refunds_to_check(self, *, now: dt.datetime, limit: int) -> list[Refund]:
        rows = await self._session.scalars(
            select(Refund)
            .where(
                Refund.status.in_([status.value for status in UNRESOLVED_REFUNDS]),
                or_(Refund.next_check_at.is_(None), Refund.next_check_at <= now),
            )
            .order_by(Refund.next_check_at.nulls_first())
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list(rows)
