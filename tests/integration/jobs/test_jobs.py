"""Jobs on procrastinate: retries with backoff, mail sent once per effect id."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from email import message_from_bytes
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope as SmtpEnvelope
from aiosmtpd.smtp import Session as SmtpSession
from sqlalchemy import text

from mercato.platform.config import MailSettings, Settings
from mercato.platform.db.database import Database
from mercato.platform.jobs.effects import effect_id_of
from mercato.platform.jobs.queue import JobRequest
from mercato.platform.jobs.runtime import create_job_app
from mercato.platform.jobs.tasks import send_mail_job
from mercato.platform.mail import DevMailbox, Mail, SmtpMailer, SmtpServer
from tests.e2e.conftest import free_port
from tests.integration.events.conftest import scalar
from tests.integration.jobs.conftest import (
    blueprints,
    defer,
    job_status,
    run_jobs_until_idle,
)


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


async def test_mail_is_delivered_over_smtp_by_a_job_with_its_effect_id_as_message_id(
    job_database: Database, settings: Settings, smtp_server: tuple[Inbox, int]
) -> None:
    inbox, port = smtp_server
    smtp_settings = settings.model_copy(
        update={"mail": MailSettings(SMTP_URL=f"smtp://127.0.0.1:{port}")}
    )
    job = send_mail_job(Mail(to="ada@example.com", subject="Welcome", text="Hello Ada"))
    await defer(job_database, job)
    await run_jobs_until_idle(smtp_settings, job_database, queues=["mail"])
    assert await job_status(job_database, "platform:send_mail") == "succeeded"
    (message,) = inbox.messages
    assert message["To"] == "ada@example.com"
    assert message["Subject"] == "Welcome"
    assert message["Message-ID"] == f"<{job.effect_id}@mercato.localhost>"
    assert "Hello Ada" in message.get_payload()


async def test_smtp_sends_the_same_message_id_every_time_an_effect_is_repeated(
    smtp_server: tuple[Inbox, int],
) -> None:
    inbox, port = smtp_server
    mailer = SmtpMailer(
        SmtpServer.from_url(f"smtp://127.0.0.1:{port}"), sender="Shop <hello@shop.example.com>"
    )
    effect_id = uuid.uuid4()
    mail = Mail(to="ada@example.com", subject="Receipt", text="Thanks")
    await mailer.send(mail, effect_id=effect_id)
    await mailer.send(mail, effect_id=effect_id)  # the job ran again after a crash
    await mailer.send(mail, effect_id=uuid.uuid4())  # another effect: another message
    ids = [message["Message-ID"] for message in inbox.messages]
    assert ids[0] == ids[1] == f"<{effect_id}@shop.example.com>"
    assert ids[2] != ids[0]


async def test_without_smtp_mail_lands_in_the_dev_mailbox(
    job_database: Database, settings: Settings
) -> None:
    job = send_mail_job(Mail(to="bob@example.com", subject="Hi", text="Hello Bob"))
    await defer(job_database, job)
    await run_jobs_until_idle(settings, job_database, queues=["mail"])
    async with job_database.session() as session:
        row = (
            await session.execute(
                text("SELECT recipient, subject, text, effect_id FROM platform_dev_mailbox")
            )
        ).one()
    assert tuple(row) == ("bob@example.com", "Hi", "Hello Bob", job.effect_id)


async def test_the_dev_mailbox_stores_a_mail_once_per_effect_id(job_database: Database) -> None:
    mailbox = DevMailbox(job_database)
    effect_id = uuid.uuid4()
    mail = Mail(to="eve@example.com", subject="Hi", text="Hello")
    await mailbox.send(mail, effect_id=effect_id)
    await mailbox.send(mail, effect_id=effect_id)
    await mailbox.send(mail, effect_id=uuid.uuid4())
    assert (
        await scalar(
            job_database,
            f"SELECT count(*) FROM platform_dev_mailbox WHERE effect_id = '{effect_id}'",
        )
        == 1
    )
    assert await scalar(job_database, "SELECT count(*) FROM platform_dev_mailbox") == 2


async def test_a_mail_job_carries_its_effect_id_in_its_arguments(job_database: Database) -> None:
    job = send_mail_job(Mail(to="cy@example.com", subject="Hi", text="Hello"))
    await defer(job_database, job)
    async with job_database.session() as session:
        args = await session.scalar(text("SELECT args FROM procrastinate_jobs"))
    assert args["effect_id"] == str(job.effect_id)
    assert send_mail_job(Mail(to="cy@example.com", subject="Hi", text="Hello")).effect_id != (
        job.effect_id
    )


async def test_a_mail_job_queued_without_an_effect_id_is_sent_once_under_its_job_id(
    job_database: Database, settings: Settings
) -> None:
    """Jobs queued by the version before effect ids still run, idempotently."""
    legacy = JobRequest(
        task_name="platform:send_mail",
        queue="mail",
        args={"to": "old@example.com", "subject": "Hi", "text": "Hello", "html": None},
    )
    await defer(job_database, legacy)
    job_id = await scalar(job_database, "SELECT id FROM procrastinate_jobs")
    await run_jobs_until_idle(settings, job_database, queues=["mail"])
    assert (
        await scalar(
            job_database,
            "SELECT count(*) FROM platform_dev_mailbox"
            f" WHERE effect_id = '{effect_id_of(None, job_id=job_id)}'",
        )
        == 1
    )


def test_the_platform_tasks_are_registered_under_their_namespace() -> None:
    app = create_job_app("postgresql://unused@127.0.0.1/unused", blueprints())
    again = create_job_app("postgresql://unused@127.0.0.1/unused", blueprints())
    expected = {"platform:send_mail", "platform:reap_event_history"}
    assert expected <= set(app.tasks)
    assert expected <= set(again.tasks)  # building a second app renames nothing


async def test_finished_jobs_are_reaped_after_the_retention(
    job_database: Database, settings: Settings
) -> None:
    """The job table is a queue, not an archive: its arguments name addresses."""
    for _ in range(2):
        await defer(
            job_database,
            JobRequest(task_name="test:flaky", queue="test", args={"succeed_on_attempt": 0}),
        )
    await run_jobs_until_idle(settings, job_database, queues=["test"])
    finished = "SELECT min(id) FROM procrastinate_jobs WHERE task_name = 'test:flaky'"
    old = await scalar(job_database, finished)
    async with job_database.session() as session, session.begin():
        # The older job finished two days ago (its events say when).
        await session.execute(
            text("UPDATE procrastinate_events SET at = at - interval '2 days' WHERE job_id = :id"),
            {"id": old},
        )
    await defer(
        job_database,
        JobRequest(
            task_name="platform:reap_finished_jobs", queue="maintenance", args={"timestamp": 0}
        ),
    )
    await run_jobs_until_idle(settings, job_database, queues=["maintenance"])
    left = await scalar(
        job_database,
        "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'test:flaky'"
        " AND status = 'succeeded'",
    )
    assert left == 1
    assert await scalar(job_database, finished) != old
