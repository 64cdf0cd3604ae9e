"""Liveness always answers; readiness follows the database, down and back up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from mercato.app import create_app
from mercato.platform.config import Settings
from mercato.platform.db.embedded import EmbeddedPostgres
from tests.conftest import make_settings


async def test_live_and_ready_answer_200(client: httpx.AsyncClient) -> None:
    live = await client.get("/health/live")
    ready = await client.get("/health/ready")
    assert live.json() == {"status": "ok", "checks": {}}
    assert ready.json() == {"status": "ok", "checks": {"database": "ok"}}


@pytest.fixture
async def stoppable_postgres(tmp_path: Path) -> AsyncIterator[EmbeddedPostgres]:
    """A second, private cluster that this test may stop and start at will."""
    server = EmbeddedPostgres(tmp_path / "pg")
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_readiness_is_503_while_the_database_is_down(
    stoppable_postgres: EmbeddedPostgres,
) -> None:
    url = stoppable_postgres.url()
    port = stoppable_postgres.running_port()
    assert port is not None
    settings: Settings = make_settings(url, readiness_timeout_s=2.0)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.get("/health/ready")).status_code == 200

            stoppable_postgres.stop()
            down = await client.get("/health/ready")
            assert down.status_code == 503
            assert down.headers["content-type"] == "application/problem+json"
            assert down.json()["checks"] == {"database": "unavailable"}
            assert (await client.get("/health/live")).status_code == 200

            stoppable_postgres.start(port=port)
            assert (await client.get("/health/ready")).status_code == 200
