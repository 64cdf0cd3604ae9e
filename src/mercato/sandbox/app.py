"""`create_sandbox_app(settings)`: the simulated card processor as an ASGI application.

Its lifespan owns the database pool (and creates the `sandbox` schema if missing), the
webhook client and the background clock (settlements, deliveries), and stops them in order.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import structlog
from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.middleware import Middleware
from starlette.responses import Response

from mercato import __version__
from mercato.platform.config import DatabaseSettings
from mercato.platform.db.database import Database, create_engine
from mercato.platform.http.middleware import PlatformMiddleware
from mercato.platform.observability.metrics import HttpMetrics
from mercato.sandbox import api, pages
from mercato.sandbox.background import SandboxClock
from mercato.sandbox.config import SandboxSettings
from mercato.sandbox.deliveries import WebhookDispatcher
from mercato.sandbox.errors import install_error_handlers
from mercato.sandbox.events import EventLog
from mercato.sandbox.faults import Faults
from mercato.sandbox.intents import PaymentIntents
from mercato.sandbox.middleware import FaultInjection, ProviderSurface
from mercato.sandbox.refunds import Refunds
from mercato.sandbox.runtime import SandboxRuntime
from mercato.sandbox.schema import create_schema

STOP_TIMEOUT_S = 5.0

logger = structlog.get_logger(__name__)


def _database(settings: SandboxSettings) -> Database:
    assert settings.database_url is not None
    url = settings.database_url.get_secret_value()
    pool = DatabaseSettings(
        url=url, pool_size=settings.database_pool_size, max_overflow=settings.database_pool_size
    )
    return Database(create_engine(url, pool))


def _check(settings: SandboxSettings) -> None:
    if settings.database_url is None:
        raise ValueError("no database: set SANDBOX_DATABASE_URL or DATABASE_URL")
    if not settings.api_keys:
        raise ValueError("no API key: set SANDBOX_API_KEYS (or use the credentials file)")
    if settings.webhook_url is not None and not settings.webhook_secrets:
        raise ValueError("SANDBOX_WEBHOOK_URL is set but there is no SANDBOX_WEBHOOK_SECRETS")


def create_sandbox_app(settings: SandboxSettings) -> FastAPI:
    """The sandbox's application; refuses settings it could not run with (ValueError)."""
    _check(settings)
    faults = Faults.from_settings(settings)
    registry = CollectorRegistry()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = _database(settings)
        try:
            await create_schema(database.primary)
        except BaseException:
            await database.dispose()
            raise
        events = EventLog(faults, enabled=settings.webhook_url is not None)
        intents = PaymentIntents(
            events=events,
            base_url=settings.base_url,
            slow_answer_s=settings.slow_answer_s,
            async_delay_s=settings.async_delay_s,
        )
        client = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.webhook_timeout_s), follow_redirects=False
        )
        dispatcher = WebhookDispatcher(
            engine=database.primary, settings=settings, faults=faults, client=client
        )
        clock = SandboxClock(
            database=database,
            intents=intents,
            dispatcher=dispatcher,
            poll_interval_s=settings.poll_interval_s,
        )
        app.state.sandbox = SandboxRuntime(
            settings=settings,
            database=database,
            faults=faults,
            intents=intents,
            refunds=Refunds(events=events),
            clock=clock,
        )
        stop = asyncio.Event()
        clock_task = asyncio.create_task(clock.run(stop), name="sandbox-clock")
        logger.info(
            "sandbox_started",
            url=settings.base_url,
            webhooks="on" if settings.webhook_url else "off (no SANDBOX_WEBHOOK_URL)",
            faults=faults.knobs.model_dump(),
        )
        try:
            yield
        finally:
            stop.set()
            try:
                # A delivery in flight is cut short after the timeout; its lease expires
                # and it is sent again by whichever sandbox runs next.
                await asyncio.wait_for(clock_task, timeout=STOP_TIMEOUT_S)
            except TimeoutError:
                logger.warning("sandbox_clock_stop_timeout")
            await client.aclose()
            await database.dispose()
            logger.info("sandbox_stopped")

    app = FastAPI(
        title="Mercato sandbox payment provider",
        version=__version__,
        summary="A simulated card processor for development and tests (docs/sandbox.md).",
        lifespan=lifespan,
        middleware=[
            Middleware(PlatformMiddleware, metrics=HttpMetrics(registry)),
            Middleware(ProviderSurface, max_body_bytes=settings.max_body_bytes),
            Middleware(FaultInjection, faults=faults),
        ],
    )
    install_error_handlers(app)
    app.include_router(api.router)
    app.include_router(pages.router)
    app.include_router(api.health)

    @app.get("/metrics", tags=["operations"], include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app
