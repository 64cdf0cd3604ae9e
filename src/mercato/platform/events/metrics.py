"""Event and job metrics: relay counters, plus gauges read from the database at scrape time."""

from __future__ import annotations

import asyncio
import time

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge
from sqlalchemy import text

from mercato.platform.db.database import Database

logger = structlog.get_logger(__name__)

_GAUGE_QUERIES = {
    "outbox": (
        "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)"
        " FROM platform_outbox WHERE published_at IS NULL"
    ),
    "lag": (
        "SELECT p.consumer, greatest((SELECT coalesce(max(log_position), 0)"
        " FROM platform_outbox) - p.position, 0) FROM platform_consumer_position p"
    ),
    "dead_letters": "SELECT consumer, count(*) FROM platform_dead_letter GROUP BY consumer",
    "jobs": (
        "SELECT queue_name, status::text, count(*) FROM procrastinate_jobs"
        " WHERE status IN ('todo', 'doing') GROUP BY 1, 2"
    ),
}


class EventMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.published = Counter(
            "mercato_events_published", "Events published by the relay", registry=registry
        )
        self.publish_failures = Counter(
            "mercato_events_publish_failures", "Relay rounds that failed", registry=registry
        )
        self.backlog = Gauge(
            "mercato_outbox_backlog", "Events committed but not yet published", registry=registry
        )
        self.oldest_unpublished_age = Gauge(
            "mercato_outbox_oldest_unpublished_age_seconds",
            "Age of the oldest unpublished event",
            registry=registry,
        )
        self.consumer_lag = Gauge(
            "mercato_consumer_lag_events",
            "Events a PostgreSQL consumer group has not read yet",
            ["consumer"],
            registry=registry,
        )
        self.dead_letters = Gauge(
            "mercato_dead_letters", "Dead-lettered events", ["consumer"], registry=registry
        )
        self.job_queue_depth = Gauge(
            "mercato_job_queue_depth",
            "Jobs waiting (todo) or running (doing)",
            ["queue", "status"],
            registry=registry,
        )
        self._read_at: float | None = None
        self._reading = asyncio.Lock()

    async def refresh(
        self, database: Database, *, timeout_s: float = 2.0, max_age_s: float = 0.0
    ) -> None:
        """Read the gauges unless they were read less than `max_age_s` ago; concurrent
        scrapes share one read. On failure keep the last values (and say so in the logs)."""
        async with self._reading:
            if self._read_at is not None and time.monotonic() - self._read_at < max_age_s:
                return
            try:
                await asyncio.wait_for(self._read(database), timeout=timeout_s)
            except Exception as error:  # noqa: BLE001 - metrics must never break a scrape
                logger.warning("event_metrics_unavailable", error=str(error))
            # A failed read is not retried before `max_age_s` either: a database in
            # trouble is not asked four more queries per scrape.
            self._read_at = time.monotonic()

    async def _read(self, database: Database) -> None:
        async with database.read_session() as session:
            backlog, oldest = (await session.execute(text(_GAUGE_QUERIES["outbox"]))).one()
            lags = (await session.execute(text(_GAUGE_QUERIES["lag"]))).all()
            dead = (await session.execute(text(_GAUGE_QUERIES["dead_letters"]))).all()
            jobs = (await session.execute(text(_GAUGE_QUERIES["jobs"]))).all()
        self.backlog.set(backlog)
        self.oldest_unpublished_age.set(float(oldest))
        for consumer, lag in lags:
            self.consumer_lag.labels(consumer).set(lag)
        for consumer, count in dead:
            self.dead_letters.labels(consumer).set(count)
        self.job_queue_depth.clear()
        for queue, status, count in jobs:
            self.job_queue_depth.labels(queue, status).set(count)
