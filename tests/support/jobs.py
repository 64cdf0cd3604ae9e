"""Test tasks: one that fails before it succeeds, one slow enough to be killed mid-way."""

from __future__ import annotations

import asyncio

import procrastinate
from sqlalchemy import text

from mercato.platform.jobs.runtime import dependencies_of

NAMESPACE = "test"

JOB_RUNS_DDL = """
CREATE TABLE IF NOT EXISTS test_job_run (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task text NOT NULL,
    attempt integer NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp()
)
"""


async def _record(context: procrastinate.JobContext, task: str) -> int:
    attempt = context.job.attempts if context.job else 0
    database = dependencies_of(context).database
    async with database.session() as session, session.begin():
        await session.execute(
            text("INSERT INTO test_job_run (task, attempt) VALUES (:task, :attempt)"),
            {"task": task, "attempt": attempt},
        )
    return attempt


def blueprint() -> procrastinate.Blueprint:
    tasks = procrastinate.Blueprint()
    tasks.task(
        name="flaky",
        queue="test",
        pass_context=True,
        retry=procrastinate.RetryStrategy(max_attempts=4, wait=1, linear_wait=1),
    )(flaky)
    tasks.task(
        name="slow",
        queue="test",
        pass_context=True,
        retry=procrastinate.RetryStrategy(max_attempts=3),
    )(slow)
    return tasks


async def flaky(context: procrastinate.JobContext, *, succeed_on_attempt: int) -> None:
    attempt = await _record(context, "flaky")
    if attempt < succeed_on_attempt:
        raise RuntimeError(f"attempt {attempt} fails on purpose")


async def slow(context: procrastinate.JobContext) -> None:
    await _record(context, "slow")
    if await _runs(context, "slow") == 1:
        await asyncio.sleep(120)  # the first worker is killed during this


async def _runs(context: procrastinate.JobContext, task: str) -> int:
    """How many times the task has started (whatever procrastinate's attempt counter says)."""
    database = dependencies_of(context).database
    async with database.session() as session:
        count = await session.scalar(
            text("SELECT count(*) FROM test_job_run WHERE task = :task"), {"task": task}
        )
    return int(count or 0)
