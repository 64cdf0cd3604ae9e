"""The real app over HTTP for orders tests (its runtime on the orders database, wired to the
real payments service), and signed-in accounts on that database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import create_async_engine

from mercato.app import create_app
from mercato.platform.config import Settings
from tests.support.identity import bearer, seed_account


@asynccontextmanager
async def api_of(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app built from `settings` (rate limits off), for one test."""
    unlimited = settings.http.model_copy(update={"rate_limits_enabled": False})
    app: FastAPI = create_app(settings.model_copy(update={"http": unlimited}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50002))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def account(
    settings: Settings, *, roles: Sequence[str] = ("customer",), prefix: str = "buyer"
) -> tuple[str, uuid.UUID]:
    """A new account (committed) with these roles: its email and id."""
    email = f"{prefix}-{uuid.uuid4().hex[:10]}@shop.example"
    assert settings.database.url is not None
    engine = create_async_engine(
        settings.database.url.get_secret_value().replace("postgresql://", "postgresql+asyncpg://")
    )
    try:
        async with engine.begin() as connection:
            user_id = await seed_account(connection, email=email, roles=roles)
    finally:
        await engine.dispose()
    return email, user_id


async def signed_in(
    api: httpx.AsyncClient, settings: Settings, *, roles: Sequence[str] = ("customer",)
) -> tuple[dict[str, str], uuid.UUID]:
    """The Authorization header of a new account with these roles, and its id."""
    email, user_id = await account(settings, roles=roles)
    return await bearer(api, email), user_id
