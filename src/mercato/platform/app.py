"""The application factory of every service: the platform's middleware and error handling,
each module's routers and middleware, and a lifespan that opens the process's runtime.

Nothing here knows a context: the caller passes the modules (the API's `mercato.app`, the
payments service's `mercato.payments.process`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from mercato import __version__
from mercato.platform import dev_api
from mercato.platform.config import Settings, development_warnings
from mercato.platform.db.database import Database
from mercato.platform.http.middleware import (
    REQUEST_ID_HEADER,
    PlatformMiddleware,
    RequestBodyMiddleware,
)
from mercato.platform.http.openapi import describe_api, operation_id
from mercato.platform.http.operation_docs import OperationDoc
from mercato.platform.http.problems import install_problem_handlers
from mercato.platform.module import Module
from mercato.platform.observability import tracing
from mercato.platform.observability.metrics import HttpMetrics, PoolCollector
from mercato.platform.runtime import Runtime, open_runtime

logger = structlog.get_logger(__name__)


def create_app(
    settings: Settings,
    *,
    modules: Sequence[Module],
    database: Database | None = None,
    title: str = "Mercato API",
    summary: str | None = None,
    dev_routes: bool = True,
) -> FastAPI:
    """Build a service's application. A `database` passed in is used as is and left open
    at shutdown (tests bind one connection)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_runtime(
            settings, modules, database=database, rate_limits=True, registry=registry
        ) as runtime:
            app.state.runtime = runtime
            logger.info(
                "caches",
                backend="redis" if runtime.redis is not None else "in-process (set REDIS_URL)",
            )
            logger.info("startup", env=settings.env.value, version=__version__)
            for warning in development_warnings(settings):
                logger.warning("development_settings", detail=warning)
            try:
                yield
            finally:
                logger.info("shutdown")

    tracing.configure(default_service=title.lower().replace(" ", "-"))
    registry = CollectorRegistry()
    mounts_dev_routes = dev_routes and settings.serves_dev_routes
    app = FastAPI(
        title=title,
        version=__version__,
        summary=summary,
        lifespan=lifespan,
        openapi_tags=_tags(modules, dev_routes=mounts_dev_routes),
        middleware=_middleware(settings, modules, HttpMetrics(registry)),
        generate_unique_id_function=operation_id,
    )
    registry.register(PoolCollector(lambda: _pool_status(app)))
    install_problem_handlers(app)
    # Routes match in order: the modules' (the catalog's public reads, the hottest, first).
    for module in modules:
        for router in module.routers() if module.routers is not None else ():
            app.include_router(router)
    docs: dict[str, OperationDoc] = {}
    for module in modules:
        docs.update(module.operations() if module.operations is not None else {})
    if mounts_dev_routes:
        app.include_router(dev_api.router)
        docs.update(dev_api.OPERATIONS)
    describe_api(app, docs)
    tracing.instrument_app(app)
    return app


def _tags(modules: Sequence[Module], *, dev_routes: bool) -> list[dict[str, str]]:
    """Every module's tags, described; the development routes' when they are mounted."""
    tags = [tag for module in modules for tag in module.tags]
    return [*tags, dev_api.TAG] if dev_routes else tags


def _middleware(
    settings: Settings, modules: Sequence[Module], metrics: HttpMetrics
) -> list[Middleware]:
    platform = [
        Middleware(
            PlatformMiddleware,
            metrics=metrics,
            access_log=settings.log.access,
            hsts=settings.http.hsts,
        ),
        Middleware(
            CORSMiddleware,
            allow_origins=list(settings.http.cors_origins),
            allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "Idempotency-Key",
                "If-Match",
                "If-None-Match",
                REQUEST_ID_HEADER,
            ],
            expose_headers=[
                REQUEST_ID_HEADER,
                "ETag",
                "Location",
                "Link",
                "Retry-After",
                "RateLimit",
                "RateLimit-Policy",
                "Idempotent-Replayed",
            ],
            max_age=600,
        ),
        Middleware(RequestBodyMiddleware, max_body_bytes=settings.http.max_body_bytes),
    ]
    # Innermost: the modules' own (the catalog's cached reads skip routing altogether).
    return platform + [
        middleware
        for module in modules
        if module.middleware is not None
        for middleware in module.middleware()
    ]


def _pool_status(app: FastAPI) -> dict[str, dict[str, int]] | None:
    runtime: Runtime | None = getattr(app.state, "runtime", None)
    return runtime.database.pool_status() if runtime is not None else None
