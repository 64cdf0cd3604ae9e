"""One trace across the services (the `tracing` extra, installed by `make install`):
a client's span → the API → the payments service (over HTTP, `traceparent`) → its event
(envelope and NATS header) → the worker's consumer; with the SDK's in-memory exporter."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar

import httpx
import pytest
import structlog

pytest.importorskip("opentelemetry.sdk", reason="the `tracing` extra is not installed")

from opentelemetry import trace
from opentelemetry.propagate import inject
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from mercato.platform.config import Settings
from mercato.platform.db.database import ConnectionBoundDatabase
from mercato.platform.events.contracts import Envelope, EventPayload
from mercato.platform.observability import tracing
from tests.support.apps import app_client
from tests.support.payments_service import PaymentsService, payments_service


@pytest.fixture(scope="module")
def exporter() -> Iterator[InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "mercato-test"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracing.install(provider, service_name="mercato-test")
    try:
        yield memory
    finally:
        tracing.uninstall()
        memory.clear()


@pytest.fixture(scope="module")
async def traced_payments(
    exporter: InMemorySpanExporter, postgres_server: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[PaymentsService]:
    """A payments service (and its worker) built once tracing is on."""
    async with payments_service(postgres_server, tmp_path_factory.mktemp("traced")) as service:
        yield service


async def test_one_trace_spans_the_api_the_payments_service_and_the_worker(
    exporter: InMemorySpanExporter,
    traced_payments: PaymentsService,
    settings: Settings,
    database: ConnectionBoundDatabase,
) -> None:
    tracer = trace.get_tracer("tests")
    with tracer.start_as_current_span("checkout (client)") as root:
        trace_id = root.get_span_context().trace_id
        headers: dict[str, str] = {}
        inject(headers)  # the test's ASGI client is not a network client: propagate by hand
        async with app_client(settings, database) as api:
            assert (await api.get("/api/v1/products", headers=headers)).status_code == 200
        async with httpx.AsyncClient(base_url=traced_payments.base_url, timeout=30) as client:
            created = await client.post(
                "/api/v1/payment_intents",
                json={
                    "amount": 1_500,
                    "currency": "EUR",
                    "order_reference": f"ord_{uuid.uuid4().hex[:10]}",
                },
                headers=traced_payments.service_headers(key=str(uuid.uuid4())),
            )
            assert created.status_code == 201, created.text
            confirmed = await client.post(
                f"/api/v1/payment_intents/{created.json()['id']}/confirm",
                json={"payment_method": "pm_card_visa"},
                headers=traced_payments.service_headers(key=str(uuid.uuid4())),
            )
            assert confirmed.status_code == 200, confirmed.text
    spans = await _spans_until(exporter, trace_id, lambda s: s.kind == SpanKind.CONSUMER)
    # Request spans: SERVER when the request came over the network (the payments service);
    # the API's, served in this very task by an ASGI client, is nested as INTERNAL.
    routed = {(s.attributes or {}).get("http.route"): s for s in spans if s.attributes}
    assert "/api/v1/products" in routed  # the API
    assert routed["/api/v1/payment_intents"].kind == SpanKind.SERVER  # payments, over HTTP
    assert any(s.kind == SpanKind.CLIENT and s.name.startswith("POST") for s in spans)
    assert any(s.attributes and s.attributes.get("db.system") == "postgresql" for s in spans)
    consumer = next(s for s in spans if s.kind == SpanKind.CONSUMER)
    assert consumer.name.startswith("consume payments.")
    # The worker's span continues the confirmation request that published the event.
    confirmation = routed["/api/v1/payment_intents/{intent_id}/confirm"]
    assert _is_descendant(consumer, confirmation, spans)


def _is_descendant(span: ReadableSpan, ancestor: ReadableSpan, spans: list[ReadableSpan]) -> bool:
    by_id = {s.context.span_id: s for s in spans}
    current: ReadableSpan | None = span
    while current is not None and current.parent is not None:
        if current.parent.span_id == ancestor.context.span_id:
            return True
        current = by_id.get(current.parent.span_id)
    return False


async def _spans_until(
    exporter: InMemorySpanExporter, trace_id: int, wanted: Any, timeout_s: float = 30.0
) -> list[ReadableSpan]:
    deadline = time.monotonic() + timeout_s
    while True:
        spans = [s for s in exporter.get_finished_spans() if s.context.trace_id == trace_id]
        if any(wanted(s) for s in spans) or time.monotonic() > deadline:
            return spans
        await asyncio.sleep(0.1)


def test_an_envelope_carries_the_trace_of_the_work_that_published_it(
    exporter: InMemorySpanExporter,
) -> None:
    class Probe(EventPayload):
        name: ClassVar[str] = "tests.probe.happened"
        version: ClassVar[int] = 1
        aggregate_type: ClassVar[str] = "tests.probe"

    with trace.get_tracer("tests").start_as_current_span("publisher") as span:
        envelope = Envelope.wrap(Probe(), aggregate_id="p1")
    expected = f"00-{span.get_span_context().trace_id:032x}-{span.get_span_context().span_id:016x}"
    assert envelope.traceparent is not None
    assert envelope.traceparent.startswith(expected)
    assert Envelope.wrap(Probe(), aggregate_id="p2").traceparent is None  # no span, no trace


def test_log_lines_carry_the_trace_and_span_ids(exporter: InMemorySpanExporter) -> None:
    processor = tracing.add_trace_ids
    with trace.get_tracer("tests").start_as_current_span("logged") as span:
        line = processor(structlog.get_logger(), "info", {"event": "x"})
    assert line["trace_id"] == f"{span.get_span_context().trace_id:032x}"
    assert line["span_id"] == f"{span.get_span_context().span_id:016x}"
    assert "trace_id" not in processor(structlog.get_logger(), "info", {"event": "y"})


def test_tracing_is_asked_for_by_the_standard_variables() -> None:
    assert tracing.requested({"OTEL_TRACES_EXPORTER": "otlp"})
    assert tracing.requested({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert not tracing.requested({})
    assert not tracing.requested({"OTEL_TRACES_EXPORTER": "none"})
    assert not tracing.requested({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"})
