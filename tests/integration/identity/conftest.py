"""A client over an application on a real engine (its commits are real), for concurrency
tests; the identity tables are emptied before each such test."""

from __future__ import annotations

from collections.abc import AsyncIterator

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
    database = Database.from_settings(settings.database)
    try:
        async with database.session() as session, session.begin():
            await session.execute(text(f"TRUNCATE {', '.join(IDENTITY_TABLES)} CASCADE"))
    finally:
        await database.dispose()
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50001))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client
