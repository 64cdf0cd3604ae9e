"""The platform's own jobs: mail, and reaping event history, idempotency keys and
finished jobs.

(Jobs of a dead worker are recovered by `recovery.StalledJobRecovery`, which every worker
runs on its own short schedule, not by a job.)"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import delete, func, or_, select

from mercato.platform.clock import utc_now
from mercato.platform.db.database import Database
from mercato.platform.events.models import ConsumerPosition, InboxEntry, OutboxMessage
from mercato.platform.idempotency import reap_idempotency_keys
from mercato.platform.jobs.effects import effect_id_of, new_effect_id
from mercato.platform.jobs.queue import JobRequest
from mercato.platform.jobs.runtime import dependencies_of
from mercato.platform.mail import Mail

# The job queue's library is imported where tasks are registered or run (workers):
# an API process only writes job rows (`jobs/queue.py`).
if TYPE_CHECKING:
    import procrastinate


NAMESPACE = "platform"
logger = structlog.get_logger(__name__)

MAIL_QUEUE = "mail"
MAINTENANCE_QUEUE = "maintenance"


def blueprint() -> procrastinate.Blueprint:
    """A fresh blueprint of the platform's tasks.

    Fresh on every call: procrastinate renames and rebinds a blueprint's tasks when an app
    adopts them, so a blueprint must never be shared by two apps (tests build many).
    """
    import procrastinate

    tasks = procrastinate.Blueprint()
    tasks.task(
        name="send_mail",
        queue=MAIL_QUEUE,
        pass_context=True,
        # 2, 4, 8, ... 256 s: rides out an SMTP restart, gives up after ~8.5 minutes.
        retry=procrastinate.RetryStrategy(max_attempts=8, exponential_wait=2),
    )(send_mail)
    tasks.periodic(cron="17 * * * *", periodic_id="reap-event-history")(
        tasks.task(name="reap_event_history", queue=MAINTENANCE_QUEUE, pass_context=True)(
            reap_event_history
        )
    )
    tasks.periodic(cron="47 * * * *", periodic_id="reap-finished-jobs")(
        tasks.task(name="reap_finished_jobs", queue=MAINTENANCE_QUEUE, pass_context=True)(
            reap_finished_jobs
        )
    )
    tasks.periodic(cron="23 * * * *", periodic_id="reap-idempotency-keys")(
        tasks.task(name="reap_idempotency_keys", queue=MAINTENANCE_QUEUE, pass_context=True)(
            reap_expired_idempotency_keys
        )
    )
    return tasks


async def send_mail(
    context: procrastinate.JobContext,
    *,
    to: str,
    subject: str,
    text: str,
    html: str | None,
    effect_id: str | None = None,
) -> None:
    """Send one mail, idempotently on its effect id (`effect_id` is absent only in jobs
    queued by a version before effect ids; those get one derived from the job id)."""
    job_id = context.job.id if context.job else None
    effect = effect_id_of(effect_id, job_id=job_id)
    await dependencies_of(context).mailer.send(
        Mail(to=to, subject=subject, text=text, html=html), effect_id=effect
    )
    logger.info("mail_sent", job_id=job_id, effect_id=str(effect))


def send_mail_job(mail: Mail, *, effect_id: uuid.UUID | None = None) -> JobRequest:
    """The job request for `uow.defer(...)`: mail leaves only if the use case commits.

    Call it while the use case runs: the effect id (a new one unless given) is committed
    with the use case's change, and every run of the job sends the mail under that id.
    """
    return JobRequest(
        task_name=f"{NAMESPACE}:send_mail",
        queue=MAIL_QUEUE,
        args={"to": mail.to, "subject": mail.subject, "text": mail.text, "html": mail.html},
        effect_id=effect_id or new_effect_id(),
    )


FAILED_JOBS_KEPT_HOURS = 7 * 24


async def reap_finished_jobs(context: procrastinate.JobContext, timestamp: int) -> None:
    """Hourly: delete jobs finished more than JOBS_RETENTION_HOURS ago (and failed or
    cancelled ones a week after that): the job table is a queue, not an archive."""
    hours = dependencies_of(context).settings.jobs.retention_hours
    manager = context.app.job_manager
    await manager.delete_old_jobs(nb_hours=hours)
    await manager.delete_old_jobs(
        nb_hours=hours + FAILED_JOBS_KEPT_HOURS,
        include_failed=True,
        include_cancelled=True,
        include_aborted=True,
    )
    logger.info("finished_jobs_reaped", retention_hours=hours)


async def reap_event_history(context: procrastinate.JobContext, timestamp: int) -> int:
    """Hourly: forget events and inbox entries older than EVENTS_RETENTION_DAYS."""
    dependencies = dependencies_of(context)
    cutoff = utc_now() - dt.timedelta(days=dependencies.settings.events.retention_days)
    removed = await reap_event_history_before(dependencies.database, cutoff)
    logger.info("event_history_reaped", removed=removed)
    return removed


async def reap_event_history_before(database: Database, cutoff: dt.datetime) -> int:
    """Delete published events and inbox entries older than `cutoff`.

    An event is kept while any PostgreSQL consumer group has not read it yet, and the
    newest positioned event is always kept: the next position is counted from it.
    """
    async with database.session() as session, session.begin():
        slowest = select(func.coalesce(func.min(ConsumerPosition.position), 0)).scalar_subquery()
        newest = select(func.max(OutboxMessage.log_position)).scalar_subquery()
        events = await session.execute(
            delete(OutboxMessage).where(
                OutboxMessage.published_at < cutoff,
                or_(
                    OutboxMessage.log_position.is_(None),
                    (OutboxMessage.log_position <= slowest) & (OutboxMessage.log_position < newest),
                ),
            )
        )
        inbox = await session.execute(delete(InboxEntry).where(InboxEntry.processed_at < cutoff))
    return int(events.rowcount or 0) + int(inbox.rowcount or 0)  # type: ignore[attr-defined]


async def reap_expired_idempotency_keys(context: procrastinate.JobContext, timestamp: int) -> int:
    """Hourly: forget idempotency keys older than 24 hours."""
    removed = await reap_idempotency_keys(dependencies_of(context).database)
    logger.info("idempotency_keys_reaped", removed=removed)
    return removed
