"""Bringing back the jobs of a dead worker within seconds, and never those of a live one.

Every job worker stamps its row in `procrastinate_workers` every `JOBS_HEARTBEAT_INTERVAL_S`
(1 s), from its event loop, whatever its jobs are doing. A worker silent for
`JOBS_STALLED_WORKER_TIMEOUT_S` (5 s) is dead (killed, frozen, cut off): each worker runs
this recovery every `JOBS_RECOVERY_INTERVAL_S` (1 s), which deletes the dead workers' rows
(procrastinate's own function; the jobs' `worker_id` becomes NULL by the foreign key) and
puts their `doing` jobs back to `todo`, waking the workers with the notification a new job
sends. A job therefore runs again 4 to 6 s after its worker died.

A slow job of a live worker is never requeued: its worker keeps heart-beating, so its row
stays and its jobs keep their `worker_id`. Several workers recover at once safely: the
requeue is one `UPDATE ... WHERE status = 'doing' AND worker_id IS NULL`, which PostgreSQL
re-checks on a row another transaction changed meanwhile (a job already requeued, or
already fetched again by a worker, no longer matches).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import structlog
from sqlalchemy import text

from mercato.platform.aio import wait_first
from mercato.platform.db.database import Database

logger = structlog.get_logger(__name__)

_PRUNE_DEAD_WORKERS = text(
    "SELECT worker_id FROM procrastinate_prune_stalled_workers_v1(CAST(:seconds AS float))"
)
# Same bookkeeping as procrastinate's own retry: attempts + 1, and the status change is
# recorded as a `deferred_for_retry` event by procrastinate's trigger.
_REQUEUE_ORPHANED_JOBS = text(
    "UPDATE procrastinate_jobs SET status = 'todo', attempts = attempts + 1"
    " WHERE status = 'doing' AND worker_id IS NULL"
    " RETURNING id, task_name, queue_name"
)
# What procrastinate's insert trigger sends for a new job (schema 3.10.0): workers wake up
# at once instead of at their next poll.
_WAKE_WORKERS = text(
    "SELECT pg_notify(c.channel, json_build_object('type', 'job_inserted', 'job_id', j.id)::text)"
    " FROM unnest(CAST(:ids AS bigint[]), CAST(:queues AS text[])) AS j(id, queue)"
    " CROSS JOIN LATERAL (VALUES ('procrastinate_queue_v1#' || j.queue),"
    " ('procrastinate_any_queue_v1')) AS c(channel)"
)


@dataclass(frozen=True, slots=True)
class RecoveredJob:
    id: int
    task_name: str
    queue: str


async def recover_stalled_jobs(database: Database, *, stalled_after_s: float) -> list[RecoveredJob]:
    """One pass: forget workers silent for `stalled_after_s`, requeue the jobs they held."""
    async with database.session() as session, session.begin():
        dead = (await session.scalars(_PRUNE_DEAD_WORKERS, {"seconds": stalled_after_s})).all()
        rows = (await session.execute(_REQUEUE_ORPHANED_JOBS)).all()
        recovered = [RecoveredJob(int(row.id), row.task_name, row.queue_name) for row in rows]
        if recovered:
            await session.execute(
                _WAKE_WORKERS,
                {"ids": [job.id for job in recovered], "queues": [job.queue for job in recovered]},
            )
    if dead:
        logger.warning("dead_job_workers_removed", workers=[int(worker) for worker in dead])
    for job in recovered:
        logger.warning("stalled_job_requeued", job_id=job.id, task=job.task_name)
    return recovered


class StalledJobRecovery:
    """`recover_stalled_jobs` on its own short schedule, until stopped."""

    def __init__(self, database: Database, *, stalled_after_s: float, interval_s: float) -> None:
        self._database = database
        self._stalled_after_s = stalled_after_s
        self._interval_s = interval_s

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await recover_stalled_jobs(self._database, stalled_after_s=self._stalled_after_s)
            except Exception as error:  # noqa: BLE001 - a database hiccup: try again next time
                logger.warning("stalled_job_recovery_failed", error=str(error))
            await wait_first(stop, seconds=self._interval_s)
