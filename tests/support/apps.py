"""Applications built for one test, with their own settings (Redis, limits...)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from mercato.app import create_app
from mercato.platform.config import Settings
from mercato.platform.db.database import ConnectionBoundDatabase


@asynccontextmanager
async def app_client(
    settings: Settings, database: ConnectionBoundDatabase, *, ip: str = "127.0.0.1"
) -> AsyncIterator[httpx.AsyncClient]:
    """A client over a fresh application (one "API process") on the test's connection."""
    app = create_app(settings, database=database)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(ip, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client
