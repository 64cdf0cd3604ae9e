"""Prometheus metrics of provider calls, on the registry the service passes in.

One `GatewayMetrics` per registry, shared by every provider's gateway (the provider is a
label): registering the same metric names twice in a registry is an error.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from mercato.payments.breaker import BreakerState

CALL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0)
BREAKER_STATE_VALUE: dict[BreakerState, int] = {"closed": 0, "half-opened": 1, "opened": 2}


class GatewayMetrics:
    """Calls by provider/operation/outcome, tries, retries, call latency, breaker state."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.calls = Counter(
            "mercato_payments_provider_calls",
            "Provider calls through the gateway, by outcome "
            "(answered, rejected, no_effect, unknown, unavailable)",
            ["provider", "operation", "outcome"],
            registry=registry,
        )
        self.tries = Counter(
            "mercato_payments_provider_tries",
            "Single HTTP tries to a provider, by what each ended with",
            ["provider", "operation", "result"],
            registry=registry,
        )
        self.retries = Counter(
            "mercato_payments_provider_retries",
            "Retries scheduled by the gateway, by the error that caused them",
            ["provider", "operation", "reason"],
            registry=registry,
        )
        self.duration = Histogram(
            "mercato_payments_provider_call_duration_seconds",
            "Provider call latency, retries and waits included",
            ["provider", "operation"],
            buckets=CALL_BUCKETS,
            registry=registry,
        )
        self.breaker_state = Gauge(
            "mercato_payments_provider_breaker_state",
            "Circuit breaker state per provider: 0 closed, 1 half-open, 2 open",
            ["provider"],
            registry=registry,
        )
        self.breaker_transitions = Counter(
            "mercato_payments_provider_breaker_transitions",
            "Circuit breaker state changes per provider, by the state entered",
            ["provider", "state"],
            registry=registry,
        )

    def breaker_changed(self, provider: str, state: BreakerState) -> None:
        """Listener for `ProviderBreaker(on_state_change=...)`."""
        self.breaker_state.labels(provider).set(BREAKER_STATE_VALUE[state])
        self.breaker_transitions.labels(provider, state).inc()
