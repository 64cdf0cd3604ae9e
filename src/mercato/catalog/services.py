"""The catalog's services, built once per process: its settings and the read cache."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Final

from mercato.catalog.cache import (
    CATALOG_CHANGED,
    STOCK_LEVELS_CHANGED,
    CatalogCache,
    RedisCatalogCache,
)
from mercato.catalog.config import CatalogSettings
from mercato.catalog.local_cache import LocalCatalogCache
from mercato.platform.db import broadcast
from mercato.platform.db.changes import Changes, Topic
from mercato.platform.db.uow import CommitListener
from mercato.platform.module import Started
from mercato.platform.runtime import Runtime


@dataclass(frozen=True, slots=True)
class CatalogServices:
    settings: CatalogSettings
    # Shared in Redis when `REDIS_URL` is set, else in this process.
    cache: CatalogCache

    @property
    def public_cache_control(self) -> str:
        """`Cache-Control` of public catalog reads (browsers and CDNs may keep them)."""
        return f"public, max-age={self.settings.public_max_age_s}"


# Processes without a shared Redis tell each other of catalog changes on this topic.
CACHE_TOPIC: Final = "catalog"


@asynccontextmanager
async def start(runtime: Runtime) -> AsyncIterator[Started]:
    """The read cache, retired after every commit that changes the catalog, in this
    process and (through Redis, or else a PostgreSQL signal) in every other."""
    settings = runtime.settings.section(CatalogSettings)
    if runtime.redis is not None:
        cache = RedisCatalogCache(runtime.redis, registry=runtime.registry)
        yield Started(
            CatalogServices(settings, cache), commit_listeners=(retirement(cache, settings),)
        )
        return
    local = LocalCatalogCache(
        registry=runtime.registry,
        announce=partial(broadcast.announce, runtime.database, CACHE_TOPIC),
    )
    async with broadcast.subscribed(runtime.database, CACHE_TOPIC, local.forget):
        yield Started(
            CatalogServices(settings, local), commit_listeners=(retirement(local, settings),)
        )


def retires(settings: CatalogSettings) -> tuple[Topic[uuid.UUID], ...]:
    """What a commit must have changed for cached public reads to be stale."""
    if settings.expose_stock_counts:
        return (CATALOG_CHANGED, STOCK_LEVELS_CHANGED)
    return (CATALOG_CHANGED,)


def retirement(cache: CatalogCache, settings: CatalogSettings) -> CommitListener:
    """The commit listener retiring cached reads (here and, through `invalidate`, in every
    other process) after a commit that made them stale."""
    topics = retires(settings)

    async def retire_if_stale(changes: Changes) -> None:
        if any(topic in changes for topic in topics):
            await cache.invalidate()

    return retire_if_stale
