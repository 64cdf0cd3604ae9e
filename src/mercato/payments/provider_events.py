"""Provider webhooks: received fast, applied once, in any order.

`receive` verifies the signature over the raw bytes (the adapter: constant time, every
configured secret, timestamp tolerance), then stores the event and defers its job in one
transaction: a redelivered event finds its id taken and does nothing (2xx all the same, so
the provider stops retrying). The HTTP answer never waits on our own processing.

`process` runs in a job. It does not trust the snapshot the event carries (events arrive
late, twice and out of order): it reads the payment back from the provider and applies
that, under the intent's row lock; refund events move a refund only forward (pending →
succeeded or failed). So whatever the delivery order, the final state is the provider's.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable, Mapping

import structlog
from sqlalchemy import delete, func, select, tuple_, update

from mercato.payments.gateway import PaymentGateway
from mercato.payments.models import ProviderEvent as ProviderEventRow
from mercato.payments.models import Refund
from mercato.payments.outcomes import Answered, Rejected, Unavailable
from mercato.payments.provider_state import apply_payment
from mercato.payments.providers.base import (
    ProviderEvent,
    ProviderEventKind,
    ProviderRefund,
    RefundStatus,
)
from mercato.payments.refunds import apply_refund
from mercato.payments.repository import PaymentsRepository
from mercato.payments.states import UNRESOLVED_REFUNDS
from mercato.platform.clock import utc_now
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.jobs.queue import JobRequest

logger = structlog.get_logger(__name__)

# How long an applied event's id is kept to recognise a redelivery: far beyond any
# provider's retry horizon (Stripe retries for 3 days; the sandbox for hours).
EVENT_RETENTION = dt.timedelta(days=30)
_REAP_BATCH = 5_000


class ProviderEventNotApplied(Exception):
    """The provider could not be read back now: the job is retried later."""


async def receive(
    body: bytes,
    headers: Mapping[str, str],
    *,
    gateway: PaymentGateway,
    uow: UnitOfWork,
    job_for: Callable[[str], JobRequest],
) -> bool:
    """Verify and store a webhook (raises `WebhookRejected` if it does not verify); True if
    it is new. `job_for(event_id)` is the job that applies it, deferred with it."""
    event = gateway.verify_webhook(body, headers, now=int(time.time()))
    payment_id = event.payment.provider_id if event.payment is not None else None
    if payment_id is None and event.refund is not None:
        payment_id = event.refund.payment_provider_id
    async with uow:
        fresh = await PaymentsRepository(uow.session).record_provider_event(
            provider=gateway.provider.name,
            event_id=event.event_id[:255],
            event_type=event.event_type[:100],
            provider_payment_id=payment_id,
            payload=_summary(event),
        )
        if fresh and event.kind is not ProviderEventKind.IGNORED:
            uow.defer(job_for(event.event_id[:255]))
        await uow.commit()
    logger.info(
        "provider_event_received",
        event_id=event.event_id,
        event_type=event.event_type,
        duplicate=not fresh,
    )
    return fresh


def _summary(event: ProviderEvent) -> dict[str, object]:
    """What we keep of an event: enough to route and to audit it (no card data: the
    adapters' DTOs carry none)."""
    summary: dict[str, object] = {"kind": event.kind.value, "created": event.created}
    if event.payment is not None:
        summary["payment"] = {"id": event.payment.provider_id, "status": event.payment.status}
    if event.refund is not None:
        summary["refund"] = {
            "id": event.refund.provider_id,
            "payment": event.refund.payment_provider_id,
            "status": event.refund.status,
            "amount": event.refund.amount,
        }
    return summary


async def process(*, provider: str, event_id: str, gateway: PaymentGateway, uow: UnitOfWork) -> str:
    """Apply one stored event (see the module docstring); what it did, for the log."""
    async with uow:
        row = await uow.session.get(ProviderEventRow, (provider, event_id))
        await uow.commit()
    if row is None or row.processed_at is not None:
        return "already_processed"
    if row.provider_payment_id is None:
        return await _finish(uow, row, outcome="no_payment")
    result = await gateway.retrieve_payment(row.provider_payment_id)
    match result:
        case Answered(value=payment):
            pass
        case Rejected(code=code):
            return await _finish(uow, row, outcome=f"unknown_payment:{code}")
        case Unavailable(cause=cause):
            raise ProviderEventNotApplied(cause)
    async with uow:
        payments = PaymentsRepository(uow.session)
        intent = await payments.intent_by_provider_payment(
            provider=provider, provider_payment_id=row.provider_payment_id
        )
        if intent is None:
            outcome = "not_ours"
        else:
            moved = await apply_payment(uow, payments, intent, payment, attempt=None)
            outcome = "applied" if moved else "unchanged"
            refund = row.payload.get("refund")
            if isinstance(refund, dict):
                outcome += await _apply_refund_event(uow, payments, intent.id, refund)
        await _mark(uow, row, outcome)
        await uow.commit()
    return outcome


async def _apply_refund_event(
    uow: UnitOfWork,
    payments: PaymentsRepository,
    intent_id: uuid.UUID,
    refund: dict[str, object],
) -> str:
    provider_refund_id = str(refund.get("id"))
    row = await uow.session.scalar(
        select(Refund)
        .where(
            Refund.intent_id == intent_id,
            (Refund.provider_refund_id == provider_refund_id)
            | (
                Refund.provider_refund_id.is_(None)
                & Refund.status.in_([s.value for s in UNRESOLVED_REFUNDS])
                & (Refund.amount == refund.get("amount"))
            ),
        )
        .order_by(Refund.created_at)
        .limit(1)
        .with_for_update()
    )
    intent = await payments.intent_for_update(row.intent_id) if row is not None else None
    if row is None or intent is None:
        return ", refund not ours"
    amount = refund.get("amount")
    await apply_refund(
        uow,
        payments,
        intent,
        row,
        ProviderRefund(
            provider_id=provider_refund_id,
            payment_provider_id=str(refund.get("payment")),
            status=RefundStatus(str(refund.get("status"))),
            amount=amount if isinstance(amount, int) else row.amount,
            currency=row.currency,
        ),
    )
    return f", refund {row.status}"


async def _finish(uow: UnitOfWork, row: ProviderEventRow, *, outcome: str) -> str:
    async with uow:
        await _mark(uow, row, outcome)
        await uow.commit()
    return outcome


async def _mark(uow: UnitOfWork, row: ProviderEventRow, outcome: str) -> None:
    await uow.session.execute(
        update(ProviderEventRow)
        .where(ProviderEventRow.provider == row.provider, ProviderEventRow.event_id == row.event_id)
        .values(processed_at=utc_now(), outcome=outcome[:64])
    )


async def forget_old_events(
    new_uow: Callable[[], UnitOfWork], *, older_than: dt.timedelta = EVENT_RETENTION
) -> int:
    """Delete applied events received more than `older_than` ago (never one still waiting
    for its job), in batches, one transaction each; how many were deleted."""
    forgotten = 0
    while True:
        async with new_uow() as uow:
            oldest = (
                select(ProviderEventRow.provider, ProviderEventRow.event_id)
                .where(
                    ProviderEventRow.processed_at.is_not(None),
                    ProviderEventRow.received_at < func.now() - older_than,
                )
                .limit(_REAP_BATCH)
                .with_for_update(skip_locked=True)
            )
            result = await uow.session.execute(
                delete(ProviderEventRow).where(
                    tuple_(ProviderEventRow.provider, ProviderEventRow.event_id).in_(oldest)
                )
            )
            await uow.commit()
        deleted = int(getattr(result, "rowcount", 0) or 0)
        forgotten += deleted
        if deleted < _REAP_BATCH:
            logger.info("provider_events_forgotten", count=forgotten)
            return forgotten
