"""Jobs of a dead worker run again within seconds; a slow job of a live worker never twice.

Worker processes are real (`tests.support.job_worker`, the platform's job runtime with its
recovery loop), and "dead" means SIGKILL: no shutdown code runs, the job stays `doing`.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from sqlalchemy import text

from mercato.platform.config import JobSettings, Settings
from mercato.platform.db.database import Database
from mercato.platform.jobs.effects import new_effect_id
from mercato.platform.jobs.queue import JobRequest
from mercato.platform.jobs.recovery import recover_stalled_jobs
from tests.integration.events.conftest import scalar
from tests.integration.jobs.conftest import (
    defer,
    job_status,
    wait_for_count,
    wait_for_status,
)
from tests.support.processes import spawn_module

logger = logging.getLogger(__name__)
WorkerFactory = Callable[..., subprocess.Popen[bytes]]
# The production defaults (JobSettings()): a run again expected 4-6 s after the death.
DEFAULTS = JobSettings()
# Generous for a loaded 2-core machine; the figure is logged (--log-cli-level=INFO).
RERUN_BOUND_S = DEFAULTS.stalled_worker_timeout_s + DEFAULTS.recovery_interval_s + 10


def runs_of(task: str) -> str:
    return f"SELECT count(*) FROM test_job_run WHERE task = '{task}'"


@pytest.fixture
async def job_workers(settings: Settings, repo_root: Path) -> AsyncIterator[WorkerFactory]:
    """Start `tests.support.job_worker` processes; any still running are killed after."""
    assert settings.database.url is not None
    url = settings.database.url.get_secret_value()
    started: list[subprocess.Popen[bytes]] = []

    def start(**env: str) -> subprocess.Popen[bytes]:
        process = spawn_module("tests.support.job_worker", url, cwd=repo_root, env=env)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(process.wait, 10)


async def kill(process: subprocess.Popen[bytes]) -> float:
    """SIGKILL, wait for the process to be gone; return the time of death."""
    process.send_signal(signal.SIGKILL)
    await asyncio.to_thread(process.wait, 10)
    return time.monotonic()


async def test_a_job_whose_worker_is_killed_runs_again_within_seconds(
    job_database: Database,
    job_workers: WorkerFactory,
    record_property: Callable[[str, object], None],
) -> None:
    await defer(job_database, JobRequest(task_name="test:slow", queue="test", args={}))
    first = job_workers()
    # Kill it mid-task, not between "fetched" and "started": wait for the task's mark.
    assert await wait_for_count(job_database, runs_of("slow"), 1, seconds=30) == 1
    died_at = await kill(first)
    job_workers()  # another worker, with the default heartbeat and recovery settings

    assert await wait_for_count(job_database, runs_of("slow"), 2, seconds=60) == 2
    rerun_after_s = time.monotonic() - died_at
    logger.info("the killed worker's job ran again %.1f s after its death", rerun_after_s)
    assert rerun_after_s < RERUN_BOUND_S, f"ran again only {rerun_after_s:.1f} s after"
    assert await wait_for_status(job_database, "test:slow", "succeeded", seconds=30) == "succeeded"
    assert await scalar(job_database, runs_of("slow")) == 2


async def test_a_mail_job_killed_after_its_effect_sends_the_mail_once(
    job_database: Database, job_workers: WorkerFactory
) -> None:
    """The window of issue 17: mail committed, job not yet marked done, worker killed."""
    effect_id = new_effect_id()
    await defer(
        job_database,
        JobRequest(
            task_name="test:mail_then_stall",
            queue="test",
            args={"to": "once@example.com"},
            effect_id=effect_id,
        ),
    )
    first = job_workers()
    assert await wait_for_count(job_database, runs_of("mail_then_stall"), 1, seconds=30) == 1
    assert await job_status(job_database, "test:mail_then_stall") == "doing"
    await kill(first)
    job_workers()

    status = await wait_for_status(job_database, "test:mail_then_stall", "succeeded", seconds=60)
    assert status == "succeeded"
    assert await scalar(job_database, runs_of("mail_then_stall")) == 2  # the effect ran twice…
    assert await scalar(job_database, "SELECT count(*) FROM platform_dev_mailbox") == 1  # …once
    assert (
        await scalar(
            job_database,
            f"SELECT count(*) FROM platform_dev_mailbox WHERE effect_id = '{effect_id}'",
        )
        == 1
    )


async def test_a_slow_job_of_a_live_worker_is_never_requeued(
    job_database: Database, job_workers: WorkerFactory
) -> None:
    """Aggressive settings (1 s timeout, recovery every 0.1 s, two workers each running
    it) and a job four times longer than the timeout: it runs once, on its worker."""
    aggressive = {
        "JOBS_HEARTBEAT_INTERVAL_S": "0.2",
        "JOBS_STALLED_WORKER_TIMEOUT_S": "1",
        "JOBS_RECOVERY_INTERVAL_S": "0.1",
    }
    job_workers(**aggressive)
    job_workers(**aggressive)
    await defer(
        job_database,
        JobRequest(task_name="test:long_running", queue="test", args={"seconds": 4}),
    )
    status = await wait_for_status(job_database, "test:long_running", "succeeded", seconds=60)
    assert status == "succeeded"
    assert await scalar(job_database, runs_of("long_running")) == 1
    assert (
        await scalar(
            job_database,
            "SELECT count(*) FROM procrastinate_events WHERE type = 'deferred_for_retry'",
        )
        == 0
    )


async def stale_worker_with_a_job(database: Database, *, heartbeat_age_s: float) -> int:
    """A worker row whose last heartbeat is `heartbeat_age_s` old, holding one `doing` job."""
    async with database.session() as session, session.begin():
        worker_id = await session.scalar(
            text("SELECT worker_id FROM procrastinate_register_worker_v1()")
        )
        await session.execute(
            text(
                "UPDATE procrastinate_workers"
                " SET last_heartbeat = now() - make_interval(secs => :age) WHERE id = :id"
            ),
            {"age": heartbeat_age_s, "id": worker_id},
        )
        job_id = await session.scalar(
            text(
                "INSERT INTO procrastinate_jobs (queue_name, task_name, status, worker_id)"
                " VALUES ('test', 'test:slow', 'doing', :worker) RETURNING id"
            ),
            {"worker": worker_id},
        )
    return int(job_id)


async def test_recovery_requeues_only_the_jobs_of_silent_workers(job_database: Database) -> None:
    dead = await stale_worker_with_a_job(job_database, heartbeat_age_s=10)
    alive = await stale_worker_with_a_job(job_database, heartbeat_age_s=0)
    recovered = await recover_stalled_jobs(job_database, stalled_after_s=5)
    assert [job.id for job in recovered] == [dead]
    async with job_database.session() as session:
        rows = await session.execute(text("SELECT id, status::text FROM procrastinate_jobs"))
        statuses = {int(job_id): str(status) for job_id, status in rows}
    assert statuses == {dead: "todo", alive: "doing"}


async def test_concurrent_recoveries_requeue_a_job_once(job_database: Database) -> None:
    for _ in range(20):
        await stale_worker_with_a_job(job_database, heartbeat_age_s=10)
    passes = await asyncio.gather(
        *(recover_stalled_jobs(job_database, stalled_after_s=5) for _ in range(4))
    )
    requeued = [job.id for recovered in passes for job in recovered]
    assert len(requeued) == len(set(requeued)) == 20
    assert (
        await scalar(job_database, "SELECT count(*) FROM procrastinate_jobs WHERE attempts = 1")
        == 20
    )
