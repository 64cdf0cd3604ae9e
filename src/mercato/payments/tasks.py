"""The payments service's jobs: applying provider webhooks, the reconciler, and merchant
webhook deliveries.

Jobs carry references (a provider event's id, a delivery's id as the effect id), never
payment data. Applying an event is retried with backoff while the provider cannot be read
back; the reconciler runs every minute and asks about whatever is due (attempts, refunds,
captures, cancellations of unknown outcome). A merchant webhook's retries are its own
schedule (`webhook_sending`); procrastinate retries a delivery job only when its own
bookkeeping failed (a database error), which resends with the same `webhook-id`.
"""

from __future__ import annotations

import datetime as dt
import uuid

import procrastinate
import structlog

from mercato.payments import (
    provider_events,
    reconciliation,
    webhook_replay,
    webhook_secrets,
    webhook_sending,
)
from mercato.payments.models import PaymentAttempt
from mercato.payments.services import PaymentsServices
from mercato.platform.jobs.queue import JobRequest
from mercato.platform.jobs.runtime import dependencies_of

NAMESPACE = "payments"
QUEUE = "payments"
REENCRYPT_LOCK = "payments:reencrypt-fields"
logger = structlog.get_logger(__name__)


def blueprint() -> procrastinate.Blueprint:
    """A fresh blueprint of the payments service's tasks."""
    tasks = procrastinate.Blueprint()
    tasks.task(
        name="process_provider_event",
        queue=QUEUE,
        pass_context=True,
        # 1, 2, 4 … 512 s: rides out a provider outage of several minutes.
        retry=procrastinate.RetryStrategy(max_attempts=10, exponential_wait=1),
    )(process_provider_event)
    tasks.periodic(cron="* * * * *", periodic_id="reconcile-payments")(
        tasks.task(name="reconcile", queue=QUEUE, pass_context=True)(reconcile)
    )
    tasks.task(name="reconcile_attempt", queue=QUEUE, pass_context=True)(reconcile_attempt)
    tasks.task(
        name=webhook_sending.TASK,
        queue=QUEUE,
        pass_context=True,
        retry=procrastinate.RetryStrategy(max_attempts=3, exponential_wait=2),
    )(deliver_merchant_webhook)
    tasks.periodic(cron="* * * * *", periodic_id="sweep-merchant-webhooks")(
        tasks.task(name="sweep_merchant_webhooks", queue=QUEUE, pass_context=True)(
            sweep_merchant_webhooks
        )
    )
    tasks.periodic(cron="17 4 * * *", periodic_id="forget-provider-events")(
        tasks.task(name="forget_provider_events", queue=QUEUE, pass_context=True)(
            forget_provider_events
        )
    )
    tasks.task(
        name="reencrypt_fields",
        queue=QUEUE,
        pass_context=True,
        # One run at a time (a second run queued meanwhile finds little or nothing to do).
        lock=REENCRYPT_LOCK,
        retry=procrastinate.RetryStrategy(max_attempts=5, exponential_wait=5),
    )(reencrypt_fields)
    # Daily as well, for values written by a process that still had the old ring.
    tasks.periodic(cron="47 3 * * *", periodic_id="reencrypt-payments-fields")(
        tasks.task(name="reencrypt_fields_daily", queue=QUEUE, pass_context=True)(
            reencrypt_fields_daily
        )
    )
    return tasks


async def forget_provider_events(context: procrastinate.JobContext, timestamp: int) -> int:
    """Daily: provider event ids applied more than `EVENT_RETENTION` ago."""
    return await provider_events.forget_old_events(dependencies_of(context).runtime.unit_of_work)


def reencrypt_fields_job() -> JobRequest:
    """Rewrite the service's encrypted fields under the current field key (after
    `mercato payments keys rotate`)."""
    return JobRequest(
        task_name=f"{NAMESPACE}:reencrypt_fields", queue=QUEUE, args={}, lock=REENCRYPT_LOCK
    )


async def reencrypt_fields(context: procrastinate.JobContext) -> int:
    runtime = dependencies_of(context).runtime
    # The ring as it is on disk now (`field_keys` reads the file again when it changed).
    keys = runtime.services(PaymentsServices).field_keys
    return await webhook_secrets.reencrypt_secrets(runtime.database, keys)


async def reencrypt_fields_daily(context: procrastinate.JobContext, timestamp: int) -> int:
    return await reencrypt_fields(context)


def reconcile_attempt_job(*, attempt_id: uuid.UUID, at: dt.datetime) -> JobRequest:
    """Ask the provider about one attempt of unknown outcome at `at` (the minute's sweep
    would find it too; this is sooner)."""
    return JobRequest(
        task_name=f"{NAMESPACE}:reconcile_attempt",
        queue=QUEUE,
        args={"attempt_id": str(attempt_id)},
        scheduled_at=at,
    )


async def reconcile_attempt(context: procrastinate.JobContext, *, attempt_id: str) -> bool:
    """Settle one attempt; not settled yet: ask again on its backoff schedule."""
    runtime = dependencies_of(context).runtime
    payments = runtime.services(PaymentsServices)
    settled = await reconciliation.reconcile_attempt(
        uuid.UUID(attempt_id),
        gateway=payments.gateway,
        uow=runtime.unit_of_work(),
        first_wait=payments.recheck_after,
    )
    if not settled:
        async with runtime.unit_of_work() as uow:
            attempt = await uow.session.get(PaymentAttempt, uuid.UUID(attempt_id))
            if attempt is not None and attempt.next_check_at is not None:
                uow.defer(reconcile_attempt_job(attempt_id=attempt.id, at=attempt.next_check_at))
            await uow.commit()
    return settled


def process_provider_event_job(*, provider: str, event_id: str) -> JobRequest:
    return JobRequest(
        task_name=f"{NAMESPACE}:process_provider_event",
        queue=QUEUE,
        args={"provider": provider, "event_id": event_id},
        # One payment's events one at a time would need the payment id; the intent's
        # row lock already serialises their effects.
    )


async def process_provider_event(
    context: procrastinate.JobContext, *, provider: str, event_id: str
) -> str:
    runtime = dependencies_of(context).runtime
    payments = runtime.services(PaymentsServices)
    outcome = await provider_events.process(
        provider=provider, event_id=event_id, gateway=payments.gateway, uow=runtime.unit_of_work()
    )
    logger.info("provider_event_applied", event_id=event_id, outcome=outcome)
    return outcome


async def reconcile(context: procrastinate.JobContext, timestamp: int) -> int:
    runtime = dependencies_of(context).runtime
    payments = runtime.services(PaymentsServices)
    report = await reconciliation.reconcile_due(
        gateway=payments.gateway, new_uow=runtime.unit_of_work, first_wait=payments.recheck_after
    )
    return report.settled


async def deliver_merchant_webhook(
    context: procrastinate.JobContext, *, step: int | None, effect_id: str
) -> str:
    """One attempt of a merchant webhook delivery; its id is the job's effect id."""
    runtime = dependencies_of(context).runtime
    payments = runtime.services(PaymentsServices)
    outcome = await webhook_sending.send_delivery(
        uuid.UUID(effect_id),
        step=step,
        sender=payments.webhook_sender,
        new_uow=runtime.unit_of_work,
    )
    logger.info("merchant_webhook_job_done", delivery_id=effect_id, step=step, outcome=outcome)
    return outcome


async def sweep_merchant_webhooks(context: procrastinate.JobContext, timestamp: int) -> int:
    runtime = dependencies_of(context).runtime
    return await webhook_replay.sweep_overdue(uow=runtime.unit_of_work())
