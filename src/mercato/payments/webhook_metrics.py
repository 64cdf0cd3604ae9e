"""Prometheus metrics of merchant webhook deliveries, on the registry the service passes in.

Every attempt (scheduled or a replay) counts once, as a success (a 2xx) or a failure with
a bounded reason: the attempt's error name ("timeout", "connect_error", …) or the answer's
status class ("http_5xx"; a 410 keeps its own, it disables the endpoint). No endpoint id or
URL as a label: merchants come and go, and a label per endpoint would grow without bound.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from mercato.payments.merchant_webhooks import Delivered, DeliveryAttempt

ATTEMPT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0)
_HTTP_ERROR = "http_"


def failure_reason(attempt: DeliveryAttempt) -> str:
    """A label value for a failed attempt, from a small fixed set."""
    error = attempt.error or "unknown"
    if not error.startswith(_HTTP_ERROR) or attempt.status_code is None:
        return error
    if attempt.status_code == 410:
        return "http_410"
    return f"http_{attempt.status_code // 100}xx"


class WebhookMetrics:
    """Attempts, successes, failures by reason, and attempt latency, by trigger."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.attempts = Counter(
            "mercato_payments_webhook_delivery_attempts",
            "Merchant webhook delivery attempts, by trigger (scheduled, replay)",
            ["trigger"],
            registry=registry,
        )
        self.successes = Counter(
            "mercato_payments_webhook_delivery_successes",
            "Merchant webhook attempts answered with a 2xx",
            ["trigger"],
            registry=registry,
        )
        self.failures = Counter(
            "mercato_payments_webhook_delivery_failures",
            "Merchant webhook attempts that failed, by reason (error name or status class)",
            ["trigger", "reason"],
            registry=registry,
        )
        self.duration = Histogram(
            "mercato_payments_webhook_delivery_duration_seconds",
            "Merchant webhook attempt latency (address check, connect, answer, excerpt)",
            ["trigger"],
            buckets=ATTEMPT_BUCKETS,
            registry=registry,
        )

    def attempted(self, attempt: DeliveryAttempt, *, replay: bool) -> None:
        trigger = "replay" if replay else "scheduled"
        self.attempts.labels(trigger).inc()
        self.duration.labels(trigger).observe(attempt.duration_ms / 1000)
        if isinstance(attempt.verdict, Delivered):
            self.successes.labels(trigger).inc()
        else:
            self.failures.labels(trigger, failure_reason(attempt)).inc()
