"""`mercato worker` as a real process: it runs deferred jobs and stops cleanly."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from mercato.platform.config import DatabaseSettings
from mercato.platform.db.database import Database
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.jobs.tasks import send_mail_job
from mercato.platform.mail import Mail
from tests.e2e.conftest import mercato_env, run_mercato

pytestmark = pytest.mark.e2e


async def defer_mail(url: str, recipient: str) -> None:
    database = Database.from_settings(DatabaseSettings(url=url))
    try:
        async with UnitOfWork(database) as uow:
            uow.defer(send_mail_job(Mail(to=recipient, subject="From the worker", text="hi")))
            await uow.commit()
    finally:
        await database.dispose()


async def mailbox_count(url: str, recipient: str) -> int:
    database = Database.from_settings(DatabaseSettings(url=url))
    try:
        async with database.session() as session:
            count = await session.scalar(
                text("SELECT count(*) FROM platform_dev_mailbox WHERE recipient = :r"),
                {"r": recipient},
            )
            return int(count or 0)
    finally:
        await database.dispose()


def test_the_worker_process_delivers_a_deferred_mail(database_url: str, tmp_path: Path) -> None:
    recipient = f"worker-{time.monotonic_ns()}@example.com"
    alive = tmp_path / "worker.alive"
    asyncio.run(defer_mail(database_url, recipient))
    worker = subprocess.Popen(
        [sys.executable, "-m", "mercato", "worker"],
        env=mercato_env(
            DATABASE_URL=database_url,
            SMTP_URL=None,
            LOG_LEVEL="WARNING",
            MERCATO_WORKER_HEARTBEAT_FILE=str(alive),
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        delivered = 0
        while time.monotonic() < deadline and not delivered:
            delivered = asyncio.run(mailbox_count(database_url, recipient))
            time.sleep(0.2)
        assert delivered == 1
        # The liveness file of the running worker (what the Kubernetes probe looks at).
        assert alive.exists()
    finally:
        worker.send_signal(signal.SIGTERM)
        _, errors = worker.communicate(timeout=30)
    assert worker.returncode == 0, errors
    assert "Traceback" not in errors
    assert not alive.exists()  # a stopped worker is not alive


def test_the_asyncapi_command_prints_the_document() -> None:
    result = run_mercato("events", "asyncapi", env=mercato_env())
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["asyncapi"] == "3.0.0"
