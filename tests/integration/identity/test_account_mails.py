"""Verification and reset links leave only in the mail: a real worker renders them from job
arguments that name an address and a purpose, and a job run again sends the same link."""

from __future__ import annotations

import io
import re

import httpx
from sqlalchemy import text

from mercato.modules import MODULES
from mercato.platform.config import LogSettings, Settings
from mercato.platform.db.database import Database
from mercato.platform.jobs.runtime import JobDependencies, create_job_app, mailer_for
from mercato.platform.observability.logging import configure_logging
from mercato.platform.runtime import job_blueprints

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a completely new passphrase"
_TOKEN = re.compile(r"token=([\w-]+)")


async def run_mail_jobs(settings: Settings, database: Database) -> None:
    """A real worker over every module's tasks, until no mail job is ready."""
    assert settings.database.url is not None
    app = create_job_app(settings.database.url.get_secret_value(), job_blueprints(MODULES))
    dependencies = JobDependencies(
        settings=settings, database=database, mailer=mailer_for(settings, database)
    )
    async with app.open_async():
        await app.run_worker_async(
            queues=["mail"],
            wait=False,
            install_signal_handlers=False,
            additional_context={"dependencies": dependencies},
        )


async def rows(database: Database, sql: str, **params: object) -> list[tuple[object, ...]]:
    async with database.session() as session:
        return [tuple(row) for row in (await session.execute(text(sql), params)).all()]


async def mailbox(database: Database, to: str) -> list[str]:
    found = await rows(
        database, "SELECT text FROM platform_dev_mailbox WHERE recipient = :to ORDER BY id", to=to
    )
    return [str(row[0]) for row in found]


async def job_arguments(database: Database) -> str:
    found = await rows(
        database, "SELECT args::text FROM procrastinate_jobs WHERE queue_name = 'mail'"
    )
    return "\n".join(str(row[0]) for row in found)


async def test_links_are_rendered_by_the_job_and_never_stored_or_logged(
    live_client: httpx.AsyncClient, settings: Settings
) -> None:
    database = Database.from_settings(settings.database)
    stream = io.StringIO()
    configure_logging(LogSettings(level="DEBUG"), stream=stream)
    try:
        await live_client.post(
            "/api/v1/auth/register", json={"email": "mila@example.com", "password": PASSWORD}
        )
        await live_client.post("/api/v1/auth/password/forgot", json={"email": "mila@example.com"})
        await run_mail_jobs(settings, database)
    finally:
        configure_logging(LogSettings())
        logs = stream.getvalue()
    try:
        verification, reset = await mailbox(database, "mila@example.com")
        tokens = [_TOKEN.search(mail)[1] for mail in (verification, reset)]  # type: ignore[index]
        arguments = await job_arguments(database)
        assert "mila@example.com" in arguments  # the jobs were there, naming the address
        for token in tokens:
            assert token not in arguments
            assert token not in logs
        assert "send_account_mail" in logs  # the capture saw the worker
        verified = await live_client.post("/api/v1/auth/verify-email", json={"token": tokens[0]})
        assert verified.status_code == 204
        changed = await live_client.post(
            "/api/v1/auth/password/reset", json={"token": tokens[1], "new_password": NEW_PASSWORD}
        )
        assert changed.status_code == 204
    finally:
        await database.dispose()


async def test_a_job_run_again_mails_the_same_link_once(
    live_client: httpx.AsyncClient, settings: Settings
) -> None:
    """A worker killed after sending, before marking the job done: recovery runs it again.
    The second run must neither show a second mail nor void the link of the first."""
    database = Database.from_settings(settings.database)
    try:
        await live_client.post(
            "/api/v1/auth/register", json={"email": "noor@example.com", "password": PASSWORD}
        )
        await live_client.post("/api/v1/auth/password/forgot", json={"email": "noor@example.com"})
        await run_mail_jobs(settings, database)
        async with database.session() as session, session.begin():
            again = await session.execute(
                text(
                    "UPDATE procrastinate_jobs SET status = 'todo' WHERE queue_name = 'mail'"
                    " AND args->>'email' = 'noor@example.com'"
                    " AND args->>'purpose' = 'reset_password'"
                )
            )
            assert again.rowcount == 1  # type: ignore[attr-defined]
        await run_mail_jobs(settings, database)
        resets = [m for m in await mailbox(database, "noor@example.com") if "reset-password" in m]
        assert len(resets) == 1
        token = _TOKEN.search(resets[0])[1]  # type: ignore[index]
        changed = await live_client.post(
            "/api/v1/auth/password/reset", json={"token": token, "new_password": NEW_PASSWORD}
        )
        assert changed.status_code == 204
    finally:
        await database.dispose()


async def test_unknown_and_verified_addresses_get_no_link(
    live_client: httpx.AsyncClient, settings: Settings
) -> None:
    database = Database.from_settings(settings.database)
    try:
        await live_client.post("/api/v1/auth/password/forgot", json={"email": "nobody@example.com"})
        await live_client.post(
            "/api/v1/auth/resend-verification", json={"email": "nobody@example.com"}
        )
        await run_mail_jobs(settings, database)
        assert await mailbox(database, "nobody@example.com") == []
        tokens = await rows(
            database,
            "SELECT count(*) FROM identity_one_time_token WHERE email = 'nobody@example.com'",
        )
        assert tokens == [(0,)]
    finally:
        await database.dispose()
