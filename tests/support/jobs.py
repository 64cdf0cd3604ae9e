"""Test tasks: one that fails before it succeeds, one slow enough to be killed mid-way, one
that stalls right after its outside effect, one that is merely long."""

from __future__ import annotations

import asyncio

import procrastinate
from sqlalchemy import text

from mercato.platform.jobs.effects import effect_id_of
from mercato.platform.jobs.runtime import dependencies_of
from mercato.platform.mail import Mail

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
    tasks.task(name="mail_then_stall", queue="test", pass_context=True)(mail_then_stall)
    tasks.task(name="long_running", queue="test", pass_context=True)(long_running)
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


async def mail_then_stall(context: procrastinate.JobContext, *, to: str, effect_id: str) -> None:
    """Send a mail, then (on the first run only) hang before the job can be marked done:
    the worker is killed in exactly the window where a non-idempotent effect doubles."""
    await dependencies_of(context).mailer.send(
        Mail(to=to, subject="Once", text="Exactly once"),
        effect_id=effect_id_of(effect_id, job_id=context.job.id),
    )
    await _record(context, "mail_then_stall")
    if await _runs(context, "mail_then_stall") == 1:
        await asyncio.sleep(120)


async def long_running(context: procrastinate.JobContext, *, seconds: float) -> None:
    """A job much longer than the stalled-worker timeout, on a worker that stays alive."""
    await _record(context, "long_running")
    await asyncio.sleep(seconds)
