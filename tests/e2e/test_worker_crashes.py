"""`mercato worker` SIGKILLed at random points during a burst: every outside effect
happens exactly once, every event is published once, and the burst drains within seconds
of the last restart; on both transports.

The burst is N "registrations" (a unit of work that publishes an event and defers jobs
with outside effects), committed by 8 concurrent writers while the worker is killed and
restarted. Kill points are random (the seed is in every failure message; set
CRASH_TEST_SEED to replay one). The worker runs with the production job settings.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import nats
import pytest
from sqlalchemy import text

from mercato.platform.config import DatabaseSettings, JobSettings
from mercato.platform.db.database import Database
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.events.transports import nats_stream
from tests.e2e.conftest import mercato_env
from tests.integration.events.conftest import (  # noqa: F401 - fixtures
    clean_nats,
    live_database,
    scalar,
    shared_nats_url,
)
from tests.support.effects import MailEffect, OutsideEffect
from tests.support.events import ThingHappened

pytestmark = pytest.mark.e2e
logger = logging.getLogger(__name__)

WRITERS = 8
JOBS = JobSettings()
# Recovery needs the stalled timeout plus a recovery pass after the last kill; the rest is
# slack for a loaded 2-core machine (the figure measured is logged).
DRAIN_BOUND_S = JOBS.stalled_worker_timeout_s + JOBS.recovery_interval_s + 30
PHASE_TIMEOUT_S = 60


@dataclass
class CrashingWorker:
    """`mercato worker` processes, one at a time: started, SIGKILLed, restarted."""

    env: dict[str, str]
    log_dir: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    logs: list[Path] = field(default_factory=list)

    def start(self) -> None:
        self.starts += 1
        log = self.log_dir / f"worker-{self.starts}.log"
        self.logs.append(log)
        with log.open("wb") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "mercato", "worker"],
                env=self.env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(self.process.wait, 10)

    async def stop(self) -> int:
        """SIGTERM once the worker has started (before, SIGTERM has no handler yet)."""
        assert self.process is not None
        for _ in range(PHASE_TIMEOUT_S * 10):
            if self.started() or self.process.poll() is not None:
                break
            await asyncio.sleep(0.1)
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.to_thread(self.process.wait, 40)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return await asyncio.to_thread(self.process.wait, 10)

    def started(self) -> bool:
        return "worker_started" in self.logs[-1].read_text(errors="replace")

    def count_in_logs(self, needle: str) -> int:
        return sum(log.read_text(errors="replace").count(needle) for log in self.logs)


@pytest.fixture
async def writers(database_url: str) -> AsyncIterator[Database]:
    """The test's own handles for the burst (a pool as wide as the writers)."""
    database = Database.from_settings(DatabaseSettings(url=database_url, pool_size=WRITERS))
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
def worker_env(request: pytest.FixtureRequest, database_url: str, transport: str) -> dict[str, str]:
    nats_url = request.getfixturevalue("clean_nats") if transport == "nats" else None
    return mercato_env(
        DATABASE_URL=database_url,
        EVENTS_TRANSPORT=transport,
        NATS_URL=nats_url,
        SMTP_URL=None,
        LOG_LEVEL="INFO",  # the logs tell how often a repeated effect was absorbed
        LOG_ACCESS="false",
    )


async def commit_burst(
    database: Database, effects: list[OutsideEffect], *, size: int, run: str
) -> list[uuid.UUID]:
    """`size` registrations by WRITERS concurrent writers; the effect ids committed."""
    committed: list[uuid.UUID] = []
    numbers = iter(range(size))

    async def writer() -> None:
        for n in numbers:
            key = f"user-{run}-{n}"
            async with UnitOfWork(database) as uow:
                uow.publish(ThingHappened(thing_id=key, n=n), aggregate_id=key)
                staged = [effect.stage(uow, key=key) for effect in effects]
                await uow.commit()
            committed.extend(staged)
            await asyncio.sleep(0.002)  # a stream, not one instant

    await asyncio.gather(*(writer() for _ in range(WRITERS)))
    return committed


async def delivered(database: Database, effects: list[OutsideEffect]) -> int:
    total = 0
    for effect in effects:
        total += len(await effect.deliveries(database))
    return total


async def wait_for(condition: str, check: object, *, seconds: float, seed: int) -> None:
    assert callable(check)
    deadline = time.monotonic() + seconds
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {condition} (seed {seed})")
        await asyncio.sleep(0.05)


async def kill_at_random_points(
    worker: CrashingWorker,
    database: Database,
    effects: list[OutsideEffect],
    *,
    size: int,
    kills: int,
    rng: random.Random,
    seed: int,
) -> None:
    """Kill the worker `kills` times, each once a random share of the burst is delivered
    plus a random few milliseconds, and restart it at once."""
    thresholds = sorted(rng.uniform(0.05, 0.85) for _ in range(kills))
    for threshold in thresholds:
        target = max(1, int(threshold * size))

        async def reached(target: int = target) -> bool:
            return await delivered(database, effects) >= target

        await wait_for(f"{target} deliveries", reached, seconds=PHASE_TIMEOUT_S, seed=seed)
        await asyncio.sleep(rng.uniform(0, 0.2))
        await worker.kill()
        worker.start()


@dataclass(frozen=True)
class CrashRun:
    """One run's processes and handles: the database the worker uses (read by the test),
    the writers' pool, the worker's environment, and the run's id, seed and log dir."""

    transport: str
    database: Database
    writers: Database
    env: dict[str, str]
    run: str
    seed: int
    log_dir: Path


@pytest.fixture
def crash_run(
    transport: str,
    live_database: Database,  # noqa: F811
    writers: Database,
    worker_env: dict[str, str],
    tmp_path: Path,
) -> CrashRun:
    seed = int(os.environ.get("CRASH_TEST_SEED") or random.randrange(1 << 30))
    run_id = uuid.uuid4().hex[:10]
    return CrashRun(transport, live_database, writers, worker_env, run_id, seed, tmp_path)


async def crash_burst(crash: CrashRun, *, size: int, kills: int) -> None:
    transport, database, writers, env, run, seed, log_dir = (
        crash.transport,
        crash.database,
        crash.writers,
        crash.env,
        crash.run,
        crash.seed,
        crash.log_dir,
    )
    rng = random.Random(seed)
    effects: list[OutsideEffect] = [MailEffect(run)]
    worker = CrashingWorker(env, log_dir)
    worker.start()
    try:
        burst = asyncio.create_task(commit_burst(writers, effects, size=size, run=run))
        await kill_at_random_points(
            worker, database, effects, size=size, kills=kills, rng=rng, seed=seed
        )
        restarted_at = time.monotonic()
        committed = await burst

        async def drained() -> bool:
            pending = 0
            for effect in effects:
                pending += await effect.pending_jobs(database)
            unpublished = await scalar(
                database, "SELECT count(*) FROM platform_outbox WHERE published_at IS NULL"
            )
            return (
                pending == 0
                and unpublished == 0
                and await delivered(database, effects) >= (len(committed))
            )

        await wait_for("the burst to drain", drained, seconds=DRAIN_BOUND_S * 2, seed=seed)
        drained_after_s = time.monotonic() - restarted_at
    finally:
        exit_code = await worker.stop()

    deliveries = {
        effect_id: count
        for effect in effects
        for effect_id, count in (await effect.deliveries(database)).items()
    }
    context = f"(seed {seed}, {transport}, logs in {log_dir})"
    assert set(deliveries) == set(committed), context
    assert [count for count in deliveries.values() if count != 1] == [], context
    # Nothing failed or was left half-done. Periodic jobs are not the burst's: one deferred
    # at the last minute boundary may still wait (`todo`), and those a killed worker was
    # running stay `doing` until the stalled-job recovery requeues them (after their stall
    # delay, which may come after the burst drained). They are told apart by the
    # `timestamp` argument procrastinate gives every periodic job (no other job of ours
    # has one; `procrastinate_periodic_defers` keeps only the latest defers). The burst's
    # own jobs were all done (`drained`), and no job of any kind may have failed.
    async with database.session() as session:
        unfinished = (
            await session.execute(
                text(
                    "SELECT task_name, status::text FROM procrastinate_jobs"
                    " WHERE status NOT IN ('succeeded', 'todo')"
                    " AND NOT (status = 'doing' AND args ? 'timestamp')"
                    " ORDER BY id"
                )
            )
        ).all()
    assert [tuple(row) for row in unfinished] == [], context
    await events_published_once(database, env, transport=transport, size=size, context=context)
    requeued = await scalar(
        database, "SELECT count(*) FROM procrastinate_events WHERE type = 'deferred_for_retry'"
    )
    absorbed = worker.count_in_logs("mail_already_delivered")
    logger.info(
        "%s: %d kills, %d jobs requeued, %d repeated mails absorbed, drained %.1f s after the"
        " last restart %s",
        transport,
        kills,
        requeued,
        absorbed,
        drained_after_s,
        context,
    )
    assert drained_after_s < DRAIN_BOUND_S, f"drained after {drained_after_s:.1f} s {context}"
    assert exit_code == 0, context


async def events_published_once(
    database: Database, env: dict[str, str], *, transport: str, size: int, context: str
) -> None:
    """Every committed event published, and the log (PostgreSQL) or stream (NATS) holds
    each exactly once."""
    if transport == "postgres":
        positions = await scalar(
            database, "SELECT count(DISTINCT log_position) FROM platform_outbox"
        )
        assert positions == size, context
        return
    client = await nats.connect(env["NATS_URL"])
    try:
        info = await client.jetstream().stream_info(nats_stream("test"))
        assert info.state.messages == size, context
    finally:
        await client.close()


@pytest.mark.parametrize(
    ("transport", "size", "kills"),
    [
        ("postgres", 120, 2),
        ("nats", 120, 2),
        pytest.param("postgres", 600, 3, marks=pytest.mark.slow),
        pytest.param("nats", 600, 3, marks=pytest.mark.slow),
    ],
)
async def test_a_worker_killed_mid_burst_leaves_every_effect_done_exactly_once(
    crash_run: CrashRun, size: int, kills: int
) -> None:
    await crash_burst(crash_run, size=size, kills=kills)
