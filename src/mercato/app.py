"""The application factory: `create_app(settings)` wires the platform and the contexts."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import Depends, FastAPI
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from mercato import __version__, composition
from mercato.catalog import admin_api as catalog_admin_api
from mercato.catalog import api as catalog_api
from mercato.catalog.cache import CatalogCache, LocalCatalogCache, RedisCatalogCache
from mercato.catalog.fast_path import CachedCatalogReads
from mercato.identity import admin_api as identity_admin_api
from mercato.identity import api as identity_api
from mercato.identity.principal_cache import NoPrincipalCache, RedisPrincipalCache
from mercato.platform import dev_api
from mercato.platform.config import Environment, Settings
from mercato.platform.db.database import Database
from mercato.platform.events import api as events_api
from mercato.platform.events.contracts import EventCatalog
from mercato.platform.events.metrics import EventMetrics
from mercato.platform.http.middleware import (
    REQUEST_ID_HEADER,
    PlatformMiddleware,
    RequestBodyMiddleware,
)
from mercato.platform.http.problems import install_problem_handlers
from mercato.platform.http.rate_limits import RateLimiter, enforce_ip_rate_limit
from mercato.platform.observability import health
from mercato.platform.observability.metrics import HttpMetrics, PoolCollector
from mercato.platform.redis import connect_redis
from mercato.platform.security.fields import FieldKeyRing
from mercato.platform.security.jwt import AccessTokens, KeyRing
from mercato.platform.security.passwords import PasswordHasher
from mercato.platform.security.sealing import Sealer

logger = structlog.get_logger(__name__)


def _install_caches(app: FastAPI, redis: Redis | None, registry: CollectorRegistry) -> None:
    """The session-check and catalog caches (shared in Redis, or in-process), and the
    commit listeners that invalidate them."""
    catalog_cache: CatalogCache
    if redis is not None:
        principal_cache = RedisPrincipalCache(redis, registry=registry)
        catalog_cache = RedisCatalogCache(redis, registry=registry)
        app.state.principal_cache = principal_cache
        app.state.commit_listeners = (principal_cache.on_commit, catalog_cache.on_commit)
    else:
        app.state.principal_cache = NoPrincipalCache()
        catalog_cache = LocalCatalogCache(registry=registry)
        app.state.commit_listeners = (catalog_cache.on_commit,)
    app.state.catalog_cache = catalog_cache


def create_app(
    settings: Settings,
    *,
    database: Database | None = None,
    catalog: EventCatalog | None = None,
) -> FastAPI:
    """Build the API. A `database` passed in is used as is and left open at shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = database is None
        app.state.database = Database.from_settings(settings.database) if owned else database
        app.state.password_hasher = PasswordHasher(workers=settings.identity.password_hash_workers)
        app.state.access_tokens = AccessTokens(
            KeyRing.load_or_create(settings.jwt_keys_file),
            issuer=settings.identity.jwt_issuer,
            audience=settings.identity.jwt_audience,
            ttl=dt.timedelta(seconds=settings.identity.access_ttl_s),
        )
        app.state.field_keys = FieldKeyRing.load_or_create(settings.field_keys_file)
        redis = connect_redis(settings.redis_url) if settings.redis_url is not None else None
        _install_caches(app, redis, registry)
        logger.info(
            "caches",
            backend="redis" if redis is not None else "in-process (set REDIS_URL to share)",
        )
        app.state.rate_limiter = (
            RateLimiter.for_redis(redis) if settings.http.rate_limits_enabled else None
        )
        app.state.refresh_sealer = Sealer(
            settings.secret_key.get_secret_value().encode(), purpose="refresh-successor"
        )
        logger.info("startup", env=settings.env.value, version=__version__)
        try:
            yield
        finally:
            app.state.password_hasher.close()
            if redis is not None:
                await redis.aclose()
            if app.state.rate_limiter is not None:
                await app.state.rate_limiter.close()
            if owned:
                await app.state.database.dispose()
            logger.info("shutdown")

    registry = CollectorRegistry()
    http_metrics = HttpMetrics(registry)
    app = FastAPI(
        title="Mercato API",
        version=__version__,
        summary="Identity, catalog, orders and payments for a commerce backend.",
        lifespan=lifespan,
        dependencies=[Depends(enforce_ip_rate_limit)],
        middleware=[
            Middleware(
                PlatformMiddleware,
                metrics=http_metrics,
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
            # Innermost: cached public catalog reads skip routing and dependencies.
            Middleware(CachedCatalogReads),
        ],
    )
    app.state.settings = settings
    app.state.metrics_registry = registry
    app.state.event_metrics = EventMetrics(registry)
    app.state.event_catalog = catalog if catalog is not None else composition.event_catalog()
    registry.register(PoolCollector(lambda: _pool_status(app)))
    install_problem_handlers(app)
    # Routes match in order: the hottest (public catalog reads) first.
    app.include_router(catalog_api.router)
    app.include_router(health.router)
    app.include_router(events_api.router)
    app.include_router(identity_api.router)
    app.include_router(identity_api.well_known)
    app.include_router(identity_admin_api.router)
    app.include_router(catalog_admin_api.router)
    if settings.env is Environment.DEVELOPMENT:
        app.include_router(dev_api.router)
    return app


def _pool_status(app: FastAPI) -> dict[str, dict[str, int]] | None:
    database: Database | None = getattr(app.state, "database", None)
    return database.pool_status() if database is not None else None
