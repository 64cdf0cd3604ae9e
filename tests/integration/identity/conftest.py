"""A client over an application on a real engine (its commits are real), for concurrency
tests; the identity tables (and identity's events and queued mail) are emptied before and
after each such test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from sqlalchemy import text

from mercato.app import create_app
from mercato.platform.config import Settings
from mercato.platform.db.database import Database

IDENTITY_TABLES = (
    "identity_refresh_token",
    "identity_session",
    "identity_one_time_token",
    "identity_user_role",
    "identity_user",
    "identity_audit_log",
)


@pytest.fixture
async def live_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with client_over_real_engine(settings) as client:
        yield client


@pytest.fixture
async def unlimited_live_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """Without per-IP rate limits: for tests that must reach the login throttle itself."""
    http = settings.http.model_copy(update={"rate_limits_enabled": False})
    async with client_over_real_engine(settings.model_copy(update={"http": http})) as client:
        yield client


async def empty_identity_tables(settings: Settings) -> None:
    database = Database.from_settings(settings.database)
    try:
        async with database.session() as session, session.begin():
            await session.execute(text(f"TRUNCATE {', '.join(IDENTITY_TABLES)} CASCADE"))
            await session.execute(text("TRUNCATE identity_login_throttle"))
            # Identity's events these tests commit (registrations, revocations) would count
            # in the next test's outbox gauges.
            await session.execute(text("DELETE FROM platform_outbox WHERE name LIKE 'identity.%'"))
            # And the mail they queue, which later tests read back from the job table.
            await session.execute(
                text(
                    "DELETE FROM procrastinate_jobs WHERE status = 'todo' AND task_name IN"
                    " ('platform:send_mail', 'identity:send_sign_in_link')"
                )
            )
    finally:
        await database.dispose()


@asynccontextmanager
async def client_over_real_engine(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """Its commits are real: the tables are emptied before and after, so that neither
    earlier tests nor this one leave users or login counters behind for the others."""
    await empty_identity_tables(settings)
    try:
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50001))
            async with httpx.AsyncClient(
                transport=transport, base_url="http://testserver"
            ) as client:
                yield client
    finally:
        await empty_identity_tables(settings)
