"""OpenTelemetry traces, when the `tracing` extra is installed and the standard `OTEL_*`
variables ask for them (`OTEL_TRACES_EXPORTER=otlp|console`, or an
`OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT`; `OTEL_SDK_DISABLED=true` turns them off;
`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER`, `OTEL_BSP_*` and
the exporter's own variables are read by the SDK itself).

What is traced: each HTTP request (FastAPI), each statement (asyncpg: SQLAlchemy's and the
compiled reads alike), each outbound call (httpx, which sends `traceparent`: the API's call
to the payments service continues its trace), each Redis command, each event a consumer
applies and each job a worker runs. An event carries the `traceparent` of the work that
published it (its envelope, and a NATS header), so a consumer's span continues the
request's trace in another process. Log lines carry `trace_id` and `span_id`.

Without the extra, or unconfigured, every function here is a no-op that costs a flag check.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Awaitable, Callable, Iterator
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any

import structlog

if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.sdk.trace import TracerProvider
    from structlog.typing import EventDict, WrappedLogger

# Probes and scrapes would be most of the spans and say nothing.
EXCLUDED_URLS = "health/live,health/ready,metrics"
_TRUE = {"1", "true", "yes", "on"}


class _State:
    enabled = False
    service_name: str | None = None


def available() -> bool:
    """The `tracing` extra is installed."""
    return find_spec("opentelemetry.sdk") is not None


def enabled() -> bool:
    return _State.enabled


def requested(environment: dict[str, str] | None = None) -> bool:
    """The standard variables ask for traces."""
    env = os.environ if environment is None else environment
    if env.get("OTEL_SDK_DISABLED", "").lower() in _TRUE:
        return False
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter:
        return exporter != "none"
    return bool(
        env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    )


def configure(default_service: str) -> bool:
    """Set up tracing for this process from `OTEL_*` (once; later calls keep the first
    service name). True when traces are recorded."""
    if _State.enabled or not requested():
        return _State.enabled
    if not available():
        structlog.get_logger(__name__).warning(
            "tracing_unavailable", detail="OTEL_* is set but the `tracing` extra is not installed"
        )
        return False
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    service = os.environ.get("OTEL_SERVICE_NAME") or default_service
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    for exporter in _exporters():
        provider.add_span_processor(BatchSpanProcessor(exporter))
    install(provider, service_name=service)
    return True


def _exporters() -> list[Any]:
    names = os.environ.get("OTEL_TRACES_EXPORTER", "otlp").lower().split(",")
    exporters: list[Any] = []
    for name in (part.strip() for part in names):
        if name == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            exporters.append(ConsoleSpanExporter())
        elif name in {"otlp", "otlp_proto_http"}:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporters.append(OTLPSpanExporter())
    return exporters


def install(provider: TracerProvider, *, service_name: str = "mercato") -> None:
    """Make `provider` the process's and instrument the libraries (tests pass one with an
    in-memory exporter)."""
    from opentelemetry import trace

    trace.set_tracer_provider(provider)
    for instrumentor in _instrumentors():
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument(tracer_provider=provider)
    _State.enabled = True
    _State.service_name = service_name


def _instrumentors() -> list[Any]:
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    return [
        AsyncPGInstrumentor(),  # type: ignore[no-untyped-call]  # untyped upstream
        HTTPXClientInstrumentor(),
        RedisInstrumentor(),
    ]


def uninstall() -> None:
    """Stop instrumenting (tests); the provider stays, as OpenTelemetry allows one."""
    for instrumentor in _instrumentors():
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()
    _State.enabled = False


def instrument_app(app: FastAPI) -> None:
    """Server spans for every request of `app` (continuing an incoming `traceparent`)."""
    if not _State.enabled:
        return
    from opentelemetry import trace
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=trace.get_tracer_provider(), excluded_urls=EXCLUDED_URLS
    )


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the span in progress (for an event's envelope), or None."""
    if not _State.enabled:
        return None
    from opentelemetry.propagate import inject

    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier.get("traceparent")


@contextlib.contextmanager
def consumer_span(name: str, *, traceparent: str | None, group: str) -> Iterator[None]:
    """A consumer applying an event, as a child of the span that published it."""
    if not _State.enabled:
        yield
        return
    from opentelemetry import trace
    from opentelemetry.propagate import extract
    from opentelemetry.trace import SpanKind

    parent = extract({"traceparent": traceparent}) if traceparent else None
    tracer = trace.get_tracer("mercato.events")
    with tracer.start_as_current_span(
        f"consume {name}",
        context=parent,
        kind=SpanKind.CONSUMER,
        attributes={"messaging.operation": "process", "messaging.consumer.group.name": group},
    ):
        yield


async def job_span(call_next: Callable[[], Awaitable[Any]], context: Any, worker: Any) -> Any:
    """procrastinate worker middleware: one span per job run."""
    from opentelemetry import trace

    job = context.job
    tracer = trace.get_tracer("mercato.jobs")
    with tracer.start_as_current_span(
        f"job {job.task_name}",
        attributes={"procrastinate.job.id": job.id or 0, "procrastinate.queue": job.queue},
    ):
        return await call_next()


def add_trace_ids(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
    """structlog processor: the current trace and span ids on every line."""
    if not _State.enabled:
        return event
    from opentelemetry import trace

    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        event.setdefault("trace_id", format(span_context.trace_id, "032x"))
        event.setdefault("span_id", format(span_context.span_id, "016x"))
    return event
