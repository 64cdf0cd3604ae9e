"""Prometheus metrics, in a registry per application (tests build many applications)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class PoolCollector(Collector):
    """Connection pool gauges, read at scrape time from the live engines."""

    def __init__(self, read_status: Callable[[], dict[str, dict[str, int]] | None]) -> None:
        self._read_status = read_status

    def collect(self) -> Iterable[Metric]:
        status = self._read_status()
        if not status:
            return
        families = {
            field: GaugeMetricFamily(
                f"mercato_db_pool_{field}",
                f"Database pool connections: {field.replace('_', ' ')}",
                labels=["pool"],
            )
            for field in ("size", "checked_out", "idle", "overflow")
        }
        for pool, fields in status.items():
            for field, value in fields.items():
                families[field].add_metric([pool], value)
        yield from families.values()


class HttpMetrics:
    """Request rate, errors and latency by route template (never by raw path)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "mercato_http_requests",
            "HTTP requests by method, route template and status",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "mercato_http_request_duration_seconds",
            "HTTP request latency by method and route template",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.in_progress = Gauge(
            "mercato_http_requests_in_progress",
            "HTTP requests being served",
            registry=registry,
        )

    def observe(self, *, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)
