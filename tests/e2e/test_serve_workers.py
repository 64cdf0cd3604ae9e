"""`serve --workers N`: N processes on one port, each answering, one that dies replaced,
all drained by SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from mercato.payments.schema import HISTORY
from mercato.platform.db import migrations
from tests.conftest import create_database, drop_database
from tests.e2e.conftest import RunningMercato, free_port, mercato_env, start_mercato
from tests.support.payments_service import API_KEY, WEBHOOK_SECRET

pytestmark = pytest.mark.e2e


def _children(pid: int) -> set[int]:
    """The live (not zombie) processes whose parent is `pid`."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid …: comm may hold spaces, so split after its ')'.
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == pid and state != "Z":
            found.add(int(entry.name))
    return found


def _wait_for_workers(
    server: RunningMercato, count: int, *, gone: frozenset[int] = frozenset()
) -> set[int]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        workers = _children(server.process.pid)
        if len(workers) == count and not workers & gone:
            return workers
        time.sleep(0.1)
    pytest.fail(f"expected {count} workers, found {_children(server.process.pid)}")


@contextmanager
def _paused(pid: int) -> Iterator[None]:
    """SIGSTOP `pid`: it accepts nothing until resumed."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def _answers(base_url: str, path: str) -> None:
    """Three requests, each on a new connection: whichever worker accepts answers."""
    for _ in range(3):
        # A worker that is still starting takes the connection once it listens.
        with httpx.Client(timeout=30) as client:
            assert client.get(f"{base_url}{path}").status_code == 200


def _exercise(server: RunningMercato, path: str) -> None:
    server.wait_ready()
    first, second = sorted(_wait_for_workers(server, 2))
    # Each worker answers on its own, while the other is stopped.
    with _paused(first):
        _answers(server.base_url, path)
    with _paused(second):
        _answers(server.base_url, path)

    os.kill(first, signal.SIGKILL)
    survivor, replacement = (
        second,
        (_wait_for_workers(server, 2, gone=frozenset({first})) - {second}).pop(),
    )
    with _paused(survivor):  # only the replacement can answer
        _answers(server.base_url, path)
    assert replacement != first

    assert server.stop(signal.SIGTERM) == 0, server.output()
    assert not _children(server.process.pid)
    for pid in (survivor, replacement):
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()
    assert "worker_died" in server.output()
    assert "Traceback" not in server.output()


def test_two_api_workers_each_answer_and_a_killed_one_is_replaced(database_url: str) -> None:
    env = mercato_env(DATABASE_URL=database_url, MERCATO_PORT=str(free_port()))
    server = start_mercato("serve", "--workers", "2", env=env)
    try:
        _exercise(server, "/health/ready")
    finally:
        server.stop(signal.SIGKILL)


async def test_two_payments_workers_each_answer_and_a_killed_one_is_replaced(
    postgres_server: str,
) -> None:
    database_url = await create_database(postgres_server, prefix="payments_workers")
    try:
        await asyncio.to_thread(migrations.upgrade, database_url, history=HISTORY)
        port = free_port()
        env = mercato_env(
            DATABASE_URL=database_url,
            PAYMENTS_PORT=str(port),
            MERCATO_PORT=str(port),
            PAYMENTS_SANDBOX_API_KEY=API_KEY,
            PAYMENTS_SANDBOX_WEBHOOK_SECRETS=WEBHOOK_SECRET,
        )
        server = start_mercato("payments", "serve", "--workers", "2", env=env)
        try:
            await asyncio.to_thread(_exercise, server, "/health/live")
        finally:
            server.stop(signal.SIGKILL)
    finally:
        await drop_database(postgres_server, database_url)
