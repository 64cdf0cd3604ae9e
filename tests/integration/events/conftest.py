"""Event tests commit for real (relays and consumers run their own transactions), so each
test starts from empty event tables in the session database instead of a rolled-back
transaction."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client
from nats.js.errors import NotFoundError
from sqlalchemy import text

from mercato.platform.config import Settings
from mercato.platform.db.database import Database
from mercato.platform.db.uow import UnitOfWork
from tests.conftest import IN_CI
from tests.support.events import EFFECTS_DDL, ThingHappened
from tests.support.processes import wait_for_port

EVENT_TABLES = (
    "platform_outbox",
    "platform_inbox",
    "platform_consumer_position",
    "platform_dead_letter",
    "procrastinate_jobs",
    "procrastinate_events",
    "procrastinate_periodic_defers",
    "platform_dev_mailbox",
    "test_effect",
)


@pytest.fixture
async def live_database(settings: Settings) -> AsyncIterator[Database]:
    database = Database.from_settings(settings.database)
    async with database.session() as session, session.begin():
        await session.execute(text(EFFECTS_DDL))
        await session.execute(text(f"TRUNCATE {', '.join(EVENT_TABLES)} RESTART IDENTITY CASCADE"))
    try:
        yield database
    finally:
        await database.dispose()


async def publish_things(
    database: Database,
    *,
    aggregates: int,
    per_aggregate: int,
    poison: frozenset[tuple[int, int]] = frozenset(),
    first: int = 0,
) -> list[str]:
    """Commit events interleaved across aggregates, one unit of work per event, numbered
    from `first` within each aggregate."""
    ids = []
    for n in range(first, first + per_aggregate):
        for aggregate in range(aggregates):
            async with UnitOfWork(database) as uow:
                value = -1 if (aggregate, n) in poison else n
                envelope = uow.publish(
                    ThingHappened(thing_id=f"thing-{aggregate}", n=value),
                    aggregate_id=f"thing-{aggregate}",
                )
                await uow.commit()
            ids.append(str(envelope.id))
    return ids


async def publish_bulk(database: Database, *, aggregates: int, per_aggregate: int) -> None:
    """Many events fast: one unit of work per round over all aggregates."""
    for n in range(per_aggregate):
        async with UnitOfWork(database) as uow:
            for aggregate in range(aggregates):
                uow.publish(
                    ThingHappened(thing_id=f"thing-{aggregate}", n=n),
                    aggregate_id=f"thing-{aggregate}",
                )
            await uow.commit()


async def scalar(database: Database, sql: str) -> int:
    async with database.session() as session:
        return int((await session.scalar(text(sql))) or 0)


async def wait_until(
    predicate_sql: str, database: Database, *, expected: int, seconds: float
) -> int:
    deadline = time.monotonic() + seconds
    value = -1
    while time.monotonic() < deadline:
        value = await scalar(database, predicate_sql)
        if value >= expected:
            return value
        await asyncio.sleep(0.1)
    return value


async def per_aggregate_order_holds(database: Database, consumer: str) -> bool:
    """Within each aggregate, effects were applied in publication order (n increasing)."""
    violations = await scalar(
        database,
        "SELECT count(*) FROM (SELECT n, lag(n) OVER (PARTITION BY aggregate_id ORDER BY"
        f" applied_order) AS previous FROM test_effect WHERE consumer = '{consumer}') AS t"
        " WHERE previous IS NOT NULL AND n <= previous",
    )
    return violations == 0


# --- NATS -------------------------------------------------------------------------------


def nats_url() -> str | None:
    return os.environ.get("NATS_URL")


@pytest.fixture
def shared_nats_url() -> str:
    url = nats_url()
    if url is None:
        if IN_CI:
            pytest.fail("CI=true but NATS_URL is not set")
        pytest.skip("NATS_URL is not set: NATS tests need a JetStream server")
    return url


@pytest.fixture
async def clean_nats(shared_nats_url: str) -> AsyncIterator[str]:
    """The shared server with Mercato's test streams deleted before and after."""
    await _delete_test_streams(shared_nats_url)
    yield shared_nats_url
    await _delete_test_streams(shared_nats_url)


@pytest.fixture
async def nats_client(clean_nats: str) -> AsyncIterator[Client]:
    """A connection to the shared NATS server, its test streams deleted around the test."""
    connection = await nats.connect(clean_nats, connect_timeout=2)
    try:
        yield connection
    finally:
        await connection.close()


async def _delete_test_streams(url: str) -> None:
    client = await nats.connect(url, connect_timeout=2)
    try:
        jetstream = client.jetstream()
        for name in ("MERCATO_TEST", "MERCATO_DEAD_LETTERS"):
            with contextlib.suppress(NotFoundError):
                await jetstream.delete_stream(name)
    finally:
        await client.drain()


class PrivateNatsServer:
    """A nats-server of the test's own, which the test may stop and restart."""

    def __init__(self, binary: str, store: Path) -> None:
        self.binary = binary
        self.store = store
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.store)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, what="nats-server")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def private_nats(tmp_path: Path) -> Iterator[PrivateNatsServer]:
    binary = shutil.which("nats-server") or (
        "/usr/sbin/nats-server" if Path("/usr/sbin/nats-server").exists() else None
    )
    if binary is None:
        if IN_CI:
            pytest.fail("CI=true but nats-server is not installed")
        pytest.skip("nats-server is not installed")
    server = PrivateNatsServer(binary, tmp_path / "jetstream")
    server.start()
    try:
        yield server
    finally:
        server.stop()
