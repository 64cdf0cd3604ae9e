"""Merchant webhook delivery metrics: every attempt counted once, failures by a bounded
reason (never a label per status code or per endpoint)."""

from __future__ import annotations

import datetime as dt

import pytest
from prometheus_client import CollectorRegistry

from mercato.payments.merchant_webhooks import (
    Delivered,
    DeliveryAttempt,
    DisableEndpoint,
    DisableReason,
    RetryAt,
)
from mercato.payments.webhook_metrics import WebhookMetrics, failure_reason

LATER = RetryAt(at=dt.datetime(2026, 12, 1, tzinfo=dt.UTC), attempt_number=2)


@pytest.mark.parametrize(
    ("attempt", "reason"),
    [
        (DeliveryAttempt(1, LATER, 503, error="http_503"), "http_5xx"),
        (DeliveryAttempt(1, LATER, 500, error="http_500"), "http_5xx"),
        (DeliveryAttempt(1, LATER, 429, error="http_429"), "http_4xx"),
        (DeliveryAttempt(1, LATER, 302, error="http_302"), "http_3xx"),
        (
            DeliveryAttempt(1, DisableEndpoint(DisableReason.GONE), 410, error="http_410"),
            "http_410",
        ),
        (DeliveryAttempt(1, LATER, error="timeout"), "timeout"),
        (DeliveryAttempt(1, LATER, error="connect_error"), "connect_error"),
        (DeliveryAttempt(1, DisableEndpoint(DisableReason.INVALID_TARGET)), "unknown"),
    ],
)
def test_failure_reasons_are_a_small_set(attempt: DeliveryAttempt, reason: str) -> None:
    assert failure_reason(attempt) == reason


def test_each_attempt_counts_once_by_trigger_and_outcome() -> None:
    registry = CollectorRegistry()
    metrics = WebhookMetrics(registry)
    metrics.attempted(
        DeliveryAttempt(1, LATER, 503, error="http_503", duration_ms=30), replay=False
    )
    metrics.attempted(DeliveryAttempt(2, Delivered(200), 200, duration_ms=20), replay=False)
    metrics.attempted(DeliveryAttempt(1, Delivered(204), 204, duration_ms=2_000), replay=True)

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert value("mercato_payments_webhook_delivery_attempts_total", trigger="scheduled") == 2
    assert value("mercato_payments_webhook_delivery_attempts_total", trigger="replay") == 1
    assert value("mercato_payments_webhook_delivery_successes_total", trigger="scheduled") == 1
    assert value("mercato_payments_webhook_delivery_successes_total", trigger="replay") == 1
    failures = "mercato_payments_webhook_delivery_failures_total"
    assert value(failures, trigger="scheduled", reason="http_5xx") == 1
    assert value(failures, trigger="replay", reason="http_5xx") is None
    duration = "mercato_payments_webhook_delivery_duration_seconds"
    assert value(f"{duration}_count", trigger="scheduled") == 2
    assert value(f"{duration}_sum", trigger="scheduled") == pytest.approx(0.05)
    assert value(f"{duration}_bucket", trigger="replay", le="1.0") == 0
    assert value(f"{duration}_bucket", trigger="replay", le="2.5") == 1
