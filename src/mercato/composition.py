"""The composition root: the one module that knows every context.

Contexts declare their event contracts, consumer groups and job blueprints in their own
modules; this is where they are put together for the API, the worker and the tooling.
"""

from __future__ import annotations

import procrastinate

from mercato.catalog import consumers as catalog_consumers
from mercato.catalog import events as catalog_events
from mercato.identity import events as identity_events
from mercato.identity import tasks as identity_tasks
from mercato.platform.events.consumers import ConsumerRegistry
from mercato.platform.events.contracts import EventCatalog
from mercato.platform.jobs import tasks as platform_tasks


def event_catalog() -> EventCatalog:
    """Every event contract published by a context."""
    return EventCatalog([*identity_events.CONTRACTS, *catalog_events.CONTRACTS])


def consumer_registry(redis_url: str | None = None) -> ConsumerRegistry:
    """Every consumer group of every context (`redis_url`: the shared caches to keep)."""
    registry = ConsumerRegistry()
    registry.include(catalog_consumers.registry(catalog_consumers.shared_cache_retirer(redis_url)))
    return registry


def job_blueprints() -> list[tuple[str, procrastinate.Blueprint]]:
    """(namespace, blueprint) of every context's background tasks, built afresh."""
    return [
        (platform_tasks.NAMESPACE, platform_tasks.blueprint()),
        (identity_tasks.NAMESPACE, identity_tasks.blueprint()),
    ]
