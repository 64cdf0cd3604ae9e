"""`mercato run` on a machine with nothing but Python: embedded PostgreSQL, data kept."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import asyncpg
import httpx
import pytest

from mercato.platform.db import migrations
from mercato.platform.db.embedded import EmbeddedPostgres
from tests.e2e.conftest import free_port, mercato_env, start_mercato
from tests.e2e.test_worker import defer_mail

pytestmark = pytest.mark.e2e


async def execute(url: str, statement: str) -> object:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchval(statement)
    finally:
        await connection.close()


def wait_for_mail(base_url: str, recipient: str, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        response = httpx.get(f"{base_url}/dev/mailbox", params={"to": recipient})
        if response.status_code == 200 and response.json():
            return True
        time.sleep(0.2)
    return False


def test_run_starts_embedded_postgres_and_keeps_data_across_restarts(tmp_path: Path) -> None:
    env = mercato_env(
        DATABASE_URL=None,
        DATABASE_READ_URL=None,
        MERCATO_DATA_DIR=str(tmp_path / "data"),
        MERCATO_PORT=str(free_port()),
        PAYMENTS_PORT=str(payments_port := free_port()),
        SANDBOX_PORT=str(sandbox_port := free_port()),
        MERCATO_ENV="development",
        SMTP_URL=None,
    )
    embedded = EmbeddedPostgres(tmp_path / "data" / "postgres")

    first = start_mercato("run", env=env, cwd=tmp_path)
    try:
        first.wait_ready()
        assert httpx.get(f"{first.base_url}/docs").status_code == 200
        # The payments service and the sandbox provider run beside the API.
        for port in (payments_port, sandbox_port):
            assert httpx.get(f"http://127.0.0.1:{port}/health/ready").status_code == 200
        url = embedded.url("mercato")
        asyncio.run(execute(url, "CREATE TABLE survivor (note text)"))
        asyncio.run(execute(url, "INSERT INTO survivor VALUES ('still here')"))
        # The worker runs in the same process: a deferred mail reaches the dev mailbox.
        asyncio.run(defer_mail(url, "run@example.com"))
        assert wait_for_mail(first.base_url, "run@example.com")
        assert "mercato_events_published_total" in httpx.get(f"{first.base_url}/metrics").text
        # A first start loads the demo catalog: something to browse and search at once.
        assert asyncio.run(execute(url, "SELECT count(*) FROM catalog_product")) == 1000
        page = httpx.get(f"{first.base_url}/api/v1/products", params={"q": "kettle"}).json()
        assert page["items"]
        assert all("kettle" in item["name"].lower() for item in page["items"])
    finally:
        assert first.stop(signal.SIGINT) == 0, first.output()
    assert "embedded PostgreSQL stopped" in first.output()
    assert embedded.running_port() is None

    second = start_mercato("run", env=env, cwd=tmp_path)
    try:
        second.wait_ready()
        url = embedded.url("mercato")
        assert asyncio.run(execute(url, "SELECT note FROM survivor")) == "still here"
        # Not loaded twice.
        assert asyncio.run(execute(url, "SELECT count(*) FROM catalog_product")) == 1000
        head = migrations.head_revision()
        assert asyncio.run(execute(url, "SELECT version_num FROM alembic_version")) == head
    finally:
        assert second.stop(signal.SIGTERM) == 0, second.output()
    assert embedded.running_port() is None
