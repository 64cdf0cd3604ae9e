"""The runtime: everything a process builds once and its contexts share.

The API, the worker and the CLI commands all open one (`open_runtime`): settings, the
database, the shared Redis client, the metrics registry, and each module's services,
started in order and closed in reverse. A unit of work made by the runtime carries every
module's commit listeners and change events, so a write from the CLI retires caches
exactly as one from the API does, without anyone wiring listeners by hand.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, TypeVar

from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from mercato.platform.config import Settings
from mercato.platform.db.database import Database
from mercato.platform.db.uow import ChangeEvents, CommitListener, UnitOfWork
from mercato.platform.events.consumers import ConsumerRegistry
from mercato.platform.events.contracts import EventCatalog
from mercato.platform.events.metrics import EventMetrics
from mercato.platform.http.rate_limits import RateLimiter
from mercato.platform.module import Module, Started
from mercato.platform.redis import connect_redis

if TYPE_CHECKING:
    # The job queue's library runs in workers; an API process only writes job rows.
    import procrastinate

    from mercato.platform.auth import Authenticator, ServiceTokens

T = TypeVar("T")


class Runtime:
    """One process's shared handles and its contexts' services (see the module doc)."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        *,
        modules: Sequence[Module],
        redis: Redis | None = None,
        registry: CollectorRegistry | None = None,
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        self.settings = settings
        self.database = database
        self.modules = tuple(modules)
        self.redis = redis
        self.registry = registry if registry is not None else CollectorRegistry()
        self.rate_limiter = rate_limiter
        self.event_catalog = event_catalog(modules)
        self.event_metrics = EventMetrics(self.registry)
        self.commit_listeners: tuple[CommitListener, ...] = ()
        self.change_events: tuple[ChangeEvents, ...] = ()
        self._authenticator: Authenticator | None = None
        self._service_tokens: ServiceTokens | None = None
        self._services: dict[type, object] = {}

    def services(self, kind: type[T]) -> T:
        """A context's services object, by its class (a typed lookup)."""
        try:
            found = self._services[kind]
        except KeyError:
            raise LookupError(f"no module started services of type {kind.__name__}") from None
        assert isinstance(found, kind)
        return found

    @property
    def authenticator(self) -> Authenticator:
        if self._authenticator is None:
            raise LookupError("no module provides an authenticator to this process")
        return self._authenticator

    @property
    def service_tokens(self) -> ServiceTokens:
        if self._service_tokens is None:
            raise LookupError("no module issues service tokens in this process")
        return self._service_tokens

    def unit_of_work(self) -> UnitOfWork:
        """A fresh unit of work on the primary, with every module's commit listeners and
        change events."""
        return UnitOfWork(
            self.database,
            commit_listeners=self.commit_listeners,
            change_events=self.change_events,
        )

    def consumers(self) -> ConsumerRegistry:
        """Every consumer group of every module."""
        registry = ConsumerRegistry()
        for module in self.modules:
            if module.consumers is not None:
                registry.include(module.consumers(self))
        return registry

    def attach(self, started: Started) -> None:
        """Take in what a module started (only `open_runtime` calls this)."""
        self._services[type(started.services)] = started.services
        self.commit_listeners = (*self.commit_listeners, *started.commit_listeners)
        self.change_events = (*self.change_events, *started.change_events)
        if started.authenticator is not None:
            self._authenticator = started.authenticator
        if started.service_tokens is not None:
            self._service_tokens = started.service_tokens


def event_catalog(modules: Sequence[Module]) -> EventCatalog:
    """Every event contract the modules publish."""
    return EventCatalog(
        [contract for m in modules if m.contracts is not None for contract in m.contracts()]
    )


def job_blueprints(modules: Sequence[Module]) -> list[tuple[str, procrastinate.Blueprint]]:
    """(namespace, blueprint) of every module's jobs, built afresh (procrastinate rebinds a
    blueprint's tasks to the app that adopts it, so one must never serve two apps)."""
    return [(m.name, m.jobs()) for m in modules if m.jobs is not None]


@asynccontextmanager
async def open_runtime(
    settings: Settings,
    modules: Sequence[Module],
    *,
    database: Database | None = None,
    rate_limits: bool = False,
    registry: CollectorRegistry | None = None,
) -> AsyncIterator[Runtime]:
    """Build the runtime, start every module, and close it all in reverse on the way out.
    A `database` passed in is used as is and left open (tests bind one connection);
    `rate_limits` builds the limiter (API processes); `registry` holds the metrics."""
    async with AsyncExitStack() as stack:
        if database is None:
            database = Database.from_settings(settings.database)
            stack.push_async_callback(database.dispose)
        redis = connect_redis(settings.redis_url) if settings.redis_url is not None else None
        if redis is not None:
            stack.push_async_callback(redis.aclose)
        limiter = None
        if rate_limits and settings.http.rate_limits_enabled:
            limiter = RateLimiter.for_redis(redis)
            stack.push_async_callback(limiter.close)
        runtime = Runtime(
            settings,
            database,
            modules=modules,
            redis=redis,
            registry=registry,
            rate_limiter=limiter,
        )
        for module in modules:
            if module.start is not None:
                runtime.attach(await stack.enter_async_context(module.start(runtime)))
        yield runtime
