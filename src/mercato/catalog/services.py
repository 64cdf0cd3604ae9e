"""The catalog's services, built once per process: its settings and the read cache."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from mercato.catalog.cache import CatalogCache, LocalCatalogCache, RedisCatalogCache
from mercato.catalog.config import CatalogSettings
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


@asynccontextmanager
async def start(runtime: Runtime) -> AsyncIterator[Started]:
    """The read cache, retired after every commit that changes the catalog."""
    cache: CatalogCache = (
        RedisCatalogCache(runtime.redis, registry=runtime.registry)
        if runtime.redis is not None
        else LocalCatalogCache(registry=runtime.registry)
    )
    services = CatalogServices(runtime.settings.section(CatalogSettings), cache)
    yield Started(services, commit_listeners=(cache.on_commit,))
