"""The catalog's own consumer: cache invalidation driven by its events.

API processes already retire cached reads right after their own commits (a commit
listener). This consumer makes it hold for every other writer too (bulk imports, a future
service, an API process whose Redis call failed at commit time): each
`catalog.*.changed` event bumps the cache generation in the shared Redis, with the
consumer's retries and dead letters behind it.
"""

from __future__ import annotations

from mercato.catalog.cache import STOCK_LEVEL_CHANGE, STOCK_LEVELS_CHANGED
from mercato.catalog.events import CategoryChanged, ProductChanged
from mercato.catalog.services import CatalogServices, retires
from mercato.platform.events.consumers import ConsumerRegistry, HandlerContext
from mercato.platform.runtime import Runtime

GROUP = "catalog-cache"


def registry(runtime: Runtime) -> ConsumerRegistry:
    """The group; a bump that fails raises, so that the event is retried. (Without Redis
    each process's cache lives in that process: the writer's commit listener retires it.)"""
    services = runtime.services(CatalogServices)
    cache, topics = services.cache, retires(services.settings)
    consumers = ConsumerRegistry()

    @consumers.consumer(ProductChanged, group=GROUP)
    async def product_changed(event: ProductChanged, context: HandlerContext) -> None:
        if event.change == STOCK_LEVEL_CHANGE and STOCK_LEVELS_CHANGED not in topics:
            return  # public reads show no counts: nothing they hold changed
        await cache.bump()

    @consumers.consumer(CategoryChanged, group=GROUP)
    async def category_changed(event: CategoryChanged, context: HandlerContext) -> None:
        await cache.bump()

    return consumers
