"""The catalog's own consumer: cache invalidation driven by its events.

API processes already retire cached reads right after their own commits (a commit
listener). This consumer makes it hold for every other writer too (bulk imports, a future
service, an API process whose Redis call failed at commit time): each
`catalog.*.changed` event bumps the cache generation in the shared Redis, with the
consumer's retries and dead letters behind it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from mercato.catalog.cache import RedisCatalogCache
from mercato.catalog.events import CategoryChanged, ProductChanged
from mercato.platform.events.consumers import ConsumerRegistry, HandlerContext
from mercato.platform.redis import connect_redis

GROUP = "catalog-cache"


def registry(retire_cached_reads: Callable[[], Awaitable[None]]) -> ConsumerRegistry:
    """The group; `retire_cached_reads` bumps the shared cache generation (and raises when
    it cannot, so that the event is retried)."""
    consumers = ConsumerRegistry()

    @consumers.consumer(ProductChanged, group=GROUP)
    async def product_changed(event: ProductChanged, context: HandlerContext) -> None:
        await retire_cached_reads()

    @consumers.consumer(CategoryChanged, group=GROUP)
    async def category_changed(event: CategoryChanged, context: HandlerContext) -> None:
        await retire_cached_reads()

    return consumers


def shared_cache_retirer(redis_url: str | None) -> Callable[[], Awaitable[None]]:
    """For the worker: bumps the generation in the shared Redis through one client opened
    on first use and kept for the process's life; without Redis (one process, in-process
    cache, invalidated by its commit listener) there is nothing to do."""
    clients: list[RedisCatalogCache] = []

    async def retire() -> None:
        if redis_url is None:
            return
        if not clients:
            clients.append(RedisCatalogCache(connect_redis(redis_url)))
        await clients[0].bump()

    return retire
