"""The platform as a module: its own tables (outbox, inbox, idempotency keys, dev mailbox),
jobs (mail, stalled-job recovery, reaping) and operations routes (health, metrics,
AsyncAPI, the development mailbox)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mercato.platform.module import Module

if TYPE_CHECKING:
    import procrastinate
    from fastapi import APIRouter

    from mercato.platform.http.operation_docs import OperationDocs


def _routers() -> Sequence[APIRouter]:
    from mercato.platform.events import api as events_api
    from mercato.platform.observability import health

    return (health.router, events_api.router)


def _jobs() -> procrastinate.Blueprint:
    from mercato.platform.jobs import tasks

    return tasks.blueprint()


def _operations() -> OperationDocs:
    from mercato.platform import api_docs

    return api_docs.OPERATIONS


module = Module(
    name="platform",
    models=(
        "mercato.platform.events.models",
        "mercato.platform.idempotency",
        "mercato.platform.mail",
    ),
    routers=_routers,
    jobs=_jobs,
    tags=({"name": "operations", "description": "Health probes, metrics, the AsyncAPI document."},),
    operations=_operations,
)
