"""The worker: the outbox relay, the event consumers and the job worker, in one process.

`mercato worker` runs it alone (scale it out: relays and consumers coordinate through the
database and the broker); `mercato run` runs it beside the API in the same event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import nats
import procrastinate
import structlog
from pydantic import SecretStr

from mercato.platform.aio import wait_first
from mercato.platform.config import Settings
from mercato.platform.db.database import Database
from mercato.platform.events.consumers import ConsumerRegistry
from mercato.platform.events.contracts import EventCatalog
from mercato.platform.events.metrics import EventMetrics
from mercato.platform.events.nats_consumer import NatsConsumer
from mercato.platform.events.postgres_consumer import PostgresConsumer
from mercato.platform.events.relay import Relay
from mercato.platform.events.transports import NatsTransport, PostgresTransport, Transport
from mercato.platform.jobs.runtime import run_job_worker

if TYPE_CHECKING:
    from mercato.platform.runtime import Runtime

logger = structlog.get_logger(__name__)

_NATS_CONNECT_BACKOFF_MAX_S = 10.0


class Runnable(Protocol):
    async def run(self, stop: asyncio.Event) -> None: ...


class Worker:
    def __init__(
        self,
        settings: Settings,
        database: Database,
        *,
        catalog: EventCatalog,
        consumers: ConsumerRegistry,
        blueprints: Sequence[tuple[str, procrastinate.Blueprint]],
        metrics: EventMetrics | None = None,
        relay: bool = True,
        jobs: bool = True,
        runtime: Runtime | None = None,
    ) -> None:
        self._settings = settings
        self._database = database
        self._catalog = catalog
        self._consumers = consumers
        self._blueprints = blueprints
        self._metrics = metrics
        self._run_relay = relay
        self._run_jobs = jobs
        self._runtime = runtime
        self._logs: dict[str, Database] = {}

    async def run(self, stop: asyncio.Event) -> None:
        """Run every part until `stop` is set; a part that crashes stops the others."""
        nats_client = None
        if self._settings.events.transport == "nats":
            nats_client = await self._connect_nats(stop)
            if nats_client is None:
                return
        try:
            transport, loops = self._assemble(nats_client)
            async with asyncio.TaskGroup() as group:
                if self._run_relay:
                    relay = Relay(
                        self._database,
                        transport,
                        batch_size=self._settings.events.relay_batch_size,
                        poll_interval_s=self._settings.events.poll_interval_s,
                        metrics=self._metrics,
                    )
                    group.create_task(relay.run(stop))
                for loop in loops:
                    group.create_task(loop.run(stop))
                if self._run_jobs:
                    group.create_task(self._run_job_worker(stop))
                logger.info(
                    "worker_started",
                    transport=transport.name,
                    consumers=len(loops),
                    relay=self._run_relay,
                    jobs=self._run_jobs,
                )
        finally:
            if nats_client is not None:
                with contextlib.suppress(Exception):
                    await nats_client.drain()
            for log in self._logs.values():
                await log.dispose()
            logger.info("worker_stopped")

    def _assemble(self, nats_client: Any) -> tuple[Transport, list[Runnable]]:
        groups = self._consumers.groups()
        if nats_client is None:
            postgres_loops: list[Runnable] = [
                PostgresConsumer(
                    self._database,
                    group,
                    log=self._log_of(group.source),
                    batch_size=self._settings.events.consumer_batch_size,
                    poll_interval_s=self._settings.events.poll_interval_s,
                )
                for group in groups
            ]
            return PostgresTransport(), postgres_loops
        jetstream = nats_client.jetstream()
        partitions = self._settings.events.nats_partitions
        nats_loops: list[Runnable] = [
            NatsConsumer(self._database, group, jetstream, partitions=partitions)
            for group in groups
        ]
        transport = NatsTransport(
            nats_client, domains=self._catalog.domains(), partitions=partitions
        )
        return transport, nats_loops

    def _log_of(self, source: str | None) -> Database | None:
        """The event log of another service (its schema on the same server, unless
        `EVENTS_SOURCE_URLS` names its database), opened once per source."""
        if source is None:
            return None
        if source not in self._logs:
            settings = self._settings.database
            url = self._settings.events.source_urls.get(source)
            self._logs[source] = Database.from_settings(
                settings.model_copy(
                    update={
                        "url": SecretStr(url) if url is not None else settings.url,
                        "read_url": None,
                        "schema_name": source,
                        "pool_size": 2,
                        "max_overflow": 2,
                    }
                )
            )
        return self._logs[source]

    async def _connect_nats(self, stop: asyncio.Event) -> Any:
        """Connect, retrying with backoff: a broker that is down must not stop the worker
        from starting (the outbox simply grows until it is back)."""
        delay = 0.5
        while not stop.is_set():
            try:
                return await nats.connect(
                    self._settings.events.nats_url,
                    connect_timeout=2,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=1,
                    allow_reconnect=True,
                )
            except Exception as error:  # noqa: BLE001 - any connect failure: retry
                logger.warning("nats_unavailable", error=str(error), retry_in_s=delay)
                await wait_first(stop, seconds=delay)
                delay = min(delay * 2, _NATS_CONNECT_BACKOFF_MAX_S)
        return None

    async def _run_job_worker(self, stop: asyncio.Event) -> None:
        await run_job_worker(
            self._settings, self._database, self._blueprints, stop, runtime=self._runtime
        )
