"""Jobs on procrastinate: transactional deferral, retries with backoff, recovery, mail."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from email import message_from_bytes
from typing import Any

import procrastinate
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope as SmtpEnvelope
from aiosmtpd.smtp import Session as SmtpSession
from sqlalchemy import text

from mercato.platform.config import MailSettings, Settings
from mercato.platform.db.database import Database
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.jobs import tasks as platform_tasks
from mercato.platform.jobs.queue import JobRequest
from mercato.platform.jobs.runtime import JobDependencies, create_job_app, mailer_for
from mercato.platform.jobs.tasks import requeue_stalled_jobs, send_mail_job
from mercato.platform.mail import Mail
from tests.e2e.conftest import free_port
from tests.integration.events.conftest import live_database, scalar  # noqa: F401
from tests.support import jobs
from tests.support.jobs import JOB_RUNS_DDL
from tests.support.processes import spawn_module


def blueprints() -> list[tuple[str, procrastinate.Blueprint]]:
    return [
        (platform_tasks.NAMESPACE, platform_tasks.blueprint()),
        (jobs.NAMESPACE, jobs.blueprint()),
    ]


@pytest.fixture
async def job_database(live_database: Database) -> Database:  # noqa: F811
    async with live_database.session() as session, session.begin():
        await session.execute(text(JOB_RUNS_DDL))
        await session.execute(text("TRUNCATE test_job_run RESTART IDENTITY"))
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


async def wait_for_count(database: Database, table: str, expected: int, *, seconds: float) -> int:
    deadline = time.monotonic() + seconds
    count = await scalar(database, f"SELECT count(*) FROM {table}")
    while count < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        count = await scalar(database, f"SELECT count(*) FROM {table}")
    return count


async def test_a_failing_job_is_retried_with_backoff_until_it_succeeds(
    job_database: Database, settings: Settings
) -> None:
    await defer(
        job_database,
        JobRequest(task_name="test:flaky", queue="test", args={"succeed_on_attempt": 2}),
    )
    deadline = time.monotonic() + 30
    while (
        time.monotonic() < deadline and await job_status(job_database, "test:flaky") != "succeeded"
    ):
        await run_jobs_until_idle(settings, job_database, queues=["test"])
        await asyncio.sleep(0.2)
    assert await job_status(job_database, "test:flaky") == "succeeded"
    async with job_database.session() as session:
        runs = (
            await session.execute(text("SELECT attempt, at FROM test_job_run ORDER BY id"))
        ).all()
    assert [run.attempt for run in runs] == [0, 1, 2]
    # wait=1, linear_wait=1: 1 s before the first retry, 2 s before the second.
    first_gap = (runs[1].at - runs[0].at).total_seconds()
    second_gap = (runs[2].at - runs[1].at).total_seconds()
    assert first_gap >= 1.0
    assert second_gap >= 2.0


async def test_a_job_whose_worker_is_killed_is_recovered(
    job_database: Database, settings: Settings, repo_root: Any
) -> None:
    await defer(job_database, JobRequest(task_name="test:slow", queue="test", args={}))
    assert settings.database.url is not None
    url = settings.database.url.get_secret_value()
    worker = spawn_module("tests.support.job_worker", url, cwd=repo_root)
    try:
        assert await wait_for_status(job_database, "test:slow", "doing", seconds=30) == "doing"
        # Kill it mid-task, not between "fetched" and "started": wait for the task's mark.
        assert await wait_for_count(job_database, "test_job_run", 1, seconds=30) == 1
    finally:
        worker.send_signal(signal.SIGKILL)
        await asyncio.to_thread(worker.wait, 10)
    await asyncio.sleep(1.5)  # its heartbeat is now older than the 1 s stall threshold

    assert settings.database.url is not None
    app = create_job_app(settings.database.url.get_secret_value(), blueprints())
    async with app.open_async():
        assert await requeue_stalled_jobs(app, seconds_since_heartbeat=1) == 1
    await run_jobs_until_idle(settings, job_database, queues=["test"])
    assert await job_status(job_database, "test:slow") == "succeeded"
    assert await scalar(job_database, "SELECT count(*) FROM test_job_run") == 2


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: Any, session: SmtpSession, envelope: SmtpEnvelope
    ) -> str:
        assert isinstance(envelope.content, bytes)
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


async def test_mail_is_delivered_over_smtp_by_a_job(
    job_database: Database, settings: Settings, smtp_server: tuple[Inbox, int]
) -> None:
    inbox, port = smtp_server
    smtp_settings = settings.model_copy(
        update={"mail": MailSettings(SMTP_URL=f"smtp://127.0.0.1:{port}")}
    )
    await defer(
        job_database,
        send_mail_job(Mail(to="ada@example.com", subject="Welcome", text="Hello Ada")),
    )
    await run_jobs_until_idle(smtp_settings, job_database, queues=["mail"])
    assert await job_status(job_database, "platform:send_mail") == "succeeded"
    (message,) = inbox.messages
    assert message["To"] == "ada@example.com"
    assert message["Subject"] == "Welcome"
    assert "Hello Ada" in message.get_payload()


async def test_without_smtp_mail_lands_in_the_dev_mailbox(
    job_database: Database, settings: Settings
) -> None:
    await defer(
        job_database,
        send_mail_job(Mail(to="bob@example.com", subject="Hi", text="Hello Bob")),
    )
    await run_jobs_until_idle(settings, job_database, queues=["mail"])
    async with job_database.session() as session:
        row = (
            await session.execute(text("SELECT recipient, subject, text FROM platform_dev_mailbox"))
        ).one()
    assert tuple(row) == ("bob@example.com", "Hi", "Hello Bob")


def test_the_platform_tasks_are_registered_under_their_namespace() -> None:
    app = create_job_app("postgresql://unused@127.0.0.1/unused", blueprints())
    again = create_job_app("postgresql://unused@127.0.0.1/unused", blueprints())
    expected = {"platform:send_mail", "platform:retry_stalled_jobs", "platform:reap_event_history"}
    assert expected <= set(app.tasks)
    assert expected <= set(again.tasks)  # building a second app renames nothing
