"""Deferring a job in the caller's transaction: a rolled-back change leaves no job behind.

procrastinate's own `defer_async` uses its own connection, so a job deferred in the middle
of a use case would run even if the use case then rolled back. We call the same SQL
function procrastinate uses (`procrastinate_defer_jobs_v1`) on the use case's session.
A job with an outside effect carries its effect id (see `effects.py`) in its arguments,
so the id is committed with the business change and survives every rerun of the job.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from mercato.platform.jobs.effects import EFFECT_ID_ARG

_DEFER = text(
    "SELECT procrastinate_defer_jobs_v1(ARRAY[ROW("
    "CAST(:queue AS varchar), CAST(:task AS varchar), CAST(:priority AS integer),"
    " CAST(:lock AS text), CAST(:queueing_lock AS text), CAST(:args AS jsonb),"
    " CAST(:scheduled_at AS timestamptz))::procrastinate_job_to_defer_v1])"
)


@dataclass(frozen=True, slots=True)
class JobRequest:
    """A job to enqueue: which task, on which queue, with which JSON arguments.

    `effect_id` is set for a job with an outside effect (`effects.new_effect_id()`, called
    while the use case runs); the task receives it as its `effect_id` argument.
    """

    task_name: str
    args: dict[str, Any]
    queue: str = "default"
    priority: int = 0
    lock: str | None = None
    queueing_lock: str | None = None
    scheduled_at: dt.datetime | None = None
    effect_id: uuid.UUID | None = None

    def arguments(self) -> dict[str, Any]:
        """The task's keyword arguments as stored in the job row."""
        if self.effect_id is None:
            return self.args
        return {**self.args, EFFECT_ID_ARG: str(self.effect_id)}


async def stage(session: AsyncSession, jobs: Sequence[JobRequest]) -> None:
    """Insert the jobs on the caller's session: they exist only if its transaction commits."""
    for job in jobs:
        await session.execute(
            _DEFER,
            {
                "queue": job.queue,
                "task": job.task_name,
                "priority": job.priority,
                "lock": job.lock,
                "queueing_lock": job.queueing_lock,
                "args": orjson.dumps(job.arguments()).decode(),
                "scheduled_at": job.scheduled_at,
            },
        )
