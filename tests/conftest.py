"""Test fixtures: a throwaway database per session on a real PostgreSQL server.

`DATABASE_URL` names the server to use (its database is only used to create ours); without
it an embedded PostgreSQL is started for the session. With `CI=true` a missing service is
a failure, never a silent skip.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mercato.app import create_app
from mercato.platform.config import DatabaseSettings, Environment, HttpSettings, Settings
from mercato.platform.db import migrations
from mercato.platform.db.database import ConnectionBoundDatabase, create_engine
from mercato.platform.db.embedded import EmbeddedPostgres
from tests.support.routes import router as probe_router

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
TEST_ORIGIN = "https://shop.example.com"


def plain_url(url: str, database: str | None = None) -> str:
    """A libpq-style URL (asyncpg.connect and psql take it), optionally another database."""
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The admin URL of a real PostgreSQL server for this test session."""
    configured = os.environ.get("DATABASE_URL")
    if configured:
        yield plain_url(configured, "postgres")
        return
    if IN_CI:
        pytest.fail("CI=true but DATABASE_URL is not set: the CI database is missing")
    embedded = EmbeddedPostgres(tmp_path_factory.mktemp("embedded-postgres") / "pg")
    url = embedded.start()
    try:
        yield url
    finally:
        embedded.stop()


async def create_database(admin_url: str, prefix: str = "mercato_test") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return plain_url(admin_url, name)


async def drop_database(admin_url: str, url: str) -> None:
    name = make_url(url).database
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


@pytest.fixture(scope="session")
async def database_url(postgres_server: str) -> AsyncIterator[str]:
    """A fresh database at the migrations' head, dropped after the session."""
    url = await create_database(postgres_server)
    # Alembic's env runs its own event loop, so it cannot run on this one.
    await asyncio.to_thread(migrations.upgrade, url)
    try:
        yield url
    finally:
        await drop_database(postgres_server, url)


def make_settings(database_url: str, **overrides: object) -> Settings:
    overrides.setdefault("data_dir", Path(tempfile.mkdtemp(prefix="mercato-test-data-")))
    # In-process rate-limit counters unless a test asks for Redis: shared counters would
    # let one test's requests count against another's.
    overrides.setdefault("redis_url", None)
    return Settings(
        env=Environment.TEST,
        database=DatabaseSettings(url=database_url, statement_timeout_ms=2_000),
        http=HttpSettings(cors_origins=(TEST_ORIGIN,), max_body_bytes=4_096),
        **overrides,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    assert settings.database.url is not None
    engine = create_engine(settings.database.url.get_secret_value(), settings.database)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One connection per test, inside a transaction that is always rolled back."""
    async with engine.connect() as connection:
        transaction = await connection.begin()
        try:
            yield connection
        finally:
            await transaction.rollback()


@pytest.fixture
def database(connection: AsyncConnection) -> ConnectionBoundDatabase:
    return ConnectionBoundDatabase(connection)


@pytest.fixture
async def app(settings: Settings, database: ConnectionBoundDatabase) -> AsyncIterator[FastAPI]:
    app = create_app(settings, database=database)
    app.include_router(probe_router)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]


@pytest.fixture
def redis_url() -> str:
    """The real Redis of this machine (CI must have it; elsewhere the test is skipped)."""
    url = os.environ.get("REDIS_URL")
    if url is None:
        if IN_CI:
            pytest.fail("CI=true but REDIS_URL is not set")
        pytest.skip("REDIS_URL is not set: this test needs Redis")
    return url
