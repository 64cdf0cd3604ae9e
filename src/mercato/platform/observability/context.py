"""The correlation of work across requests, events and jobs.

A request binds `correlation_id` (its request id); an event consumer binds the event's
correlation id and its own event id as `causation_id`. Anything published while bound
inherits both, so one id follows a checkout from the HTTP call through every event and job.
"""

from __future__ import annotations

import structlog


def current_correlation_id() -> str | None:
    value = structlog.contextvars.get_contextvars().get("correlation_id")
    return value if isinstance(value, str) else None


def current_causation_id() -> str | None:
    value = structlog.contextvars.get_contextvars().get("causation_id")
    return value if isinstance(value, str) else None
