"""Job tests commit for real (workers run their own transactions): each starts from empty
job and event tables in the session database, like the event tests."""

from __future__ import annotations

import asyncio
import time

import procrastinate
import pytest
from sqlalchemy import text

from mercato.platform.config import Settings
from mercato.platform.db.database import Database
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.jobs import tasks as platform_tasks
from mercato.platform.jobs.queue import JobRequest
from mercato.platform.jobs.runtime import JobDependencies, create_job_app, mailer_for
from tests.integration.events.conftest import live_database, scalar  # noqa: F401
from tests.support import jobs
from tests.support.jobs import JOB_RUNS_DDL


def blueprints() -> list[tuple[str, procrastinate.Blueprint]]:
    return [
        (platform_tasks.NAMESPACE, platform_tasks.blueprint()),
        (jobs.NAMESPACE, jobs.blueprint()),
    ]


@pytest.fixture
async def job_database(live_database: Database) -> Database:  # noqa: F811
    async with live_database.session() as session, session.begin():
        await session.execute(text(JOB_RUNS_DDL))
        await session.execute(
            text("TRUNCATE test_job_run, procrastinate_workers RESTART IDENTITY CASCADE")
        )
    return live_database


async def run_jobs_until_idle(
    settings: Settings, database: Database, *, queues: list[str], rounds: int = 1
) -> None:
    """Run a worker that stops once no job is ready (procrastinate's `wait=False`)."""
    assert settings.database.url is not None
    app = create_job_app(settings.database.url.get_secret_value(), blueprints())
    dependencies = JobDependencies(
        settings=settings, database=database, mailer=mailer_for(settings, database)
    )
    async with app.open_async():
        for _ in range(rounds):
            await app.run_worker_async(
                queues=queues,
                wait=False,
                install_signal_handlers=False,
                additional_context={"dependencies": dependencies},
            )


async def defer(database: Database, job: JobRequest) -> None:
    async with UnitOfWork(database) as uow:
        uow.defer(job)
        await uow.commit()


async def job_status(database: Database, task: str) -> str:
    async with database.session() as session:
        return str(
            await session.scalar(
                text("SELECT status::text FROM procrastinate_jobs WHERE task_name = :t"),
                {"t": task},
            )
        )


async def wait_for_status(database: Database, task: str, status: str, *, seconds: float) -> str:
    deadline = time.monotonic() + seconds
    current = await job_status(database, task)
    while current != status and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        current = await job_status(database, task)
    return current


async def wait_for_count(database: Database, sql: str, expected: int, *, seconds: float) -> int:
    """Poll `sql` (a count) until it reaches `expected` or time runs out; return the last."""
    deadline = time.monotonic() + seconds
    count = await scalar(database, sql)
    while count < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        count = await scalar(database, sql)
    return count
