"""A context, described once: what it mounts, starts, publishes, consumes and schedules.

`app.py`, `cli.py` and the worker take the list of modules (`mercato.modules.MODULES`) and
mount what each declares; adding a context is one line in that list. Every part that
imports heavy code (routers, the CLI, job blueprints) is a function called only by the
process that needs it, so `mercato --help` does not import the web stack.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pydantic_settings import BaseSettings

if TYPE_CHECKING:
    import procrastinate
    from fastapi import APIRouter
    from starlette.middleware import Middleware

    from mercato.platform.auth import Authenticator, ServiceTokens
    from mercato.platform.cli import CommandLine
    from mercato.platform.db.uow import ChangeEvents, CommitListener
    from mercato.platform.events.consumers import ConsumerRegistry
    from mercato.platform.events.contracts import EventPayload
    from mercato.platform.http.operation_docs import OperationDocs
    from mercato.platform.runtime import Runtime


@dataclass(frozen=True, slots=True)
class Started:
    """What a module's `start` hands the runtime: its typed services object (looked up by
    its class: `runtime.services(CatalogServices)`), the listeners to run after each
    commit (cache invalidation), the events each commit derives from its changes (the
    durable side of that invalidation), and the authenticator and service-token issuer if
    the module provides them."""

    services: object
    commit_listeners: Sequence[CommitListener] = ()
    change_events: Sequence[ChangeEvents] = ()
    authenticator: Authenticator | None = None
    service_tokens: ServiceTokens | None = None


@dataclass(frozen=True, slots=True)
class Module:
    """A context's self-description (see the module docstring)."""

    name: str  # also the job namespace: tasks are "<name>:<task>"
    settings: type[BaseSettings] | None = None
    # Modules whose import registers the context's tables in `Base.metadata` (Alembic).
    models: Sequence[str] = ()
    # Its own Alembic history (a separately deployed service); None: the main one.
    migrations: str | None = None
    routers: Callable[[], Sequence[APIRouter]] | None = None
    # ASGI middleware, innermost last (the catalog's fast path of cached reads).
    middleware: Callable[[], Sequence[Middleware]] | None = None
    start: Callable[[Runtime], AbstractAsyncContextManager[Started]] | None = None
    contracts: Callable[[], Sequence[type[EventPayload]]] | None = None
    consumers: Callable[[Runtime], ConsumerRegistry] | None = None
    jobs: Callable[[], procrastinate.Blueprint] | None = None
    # Adds the context's commands to the `mercato` command line.
    cli: Callable[[CommandLine], None] | None = None
    # `mercato run` on a database without the context's data: load a demo set; what it
    # answers (e.g. "loaded 1,000 demo products") is printed.
    demo: Callable[[Runtime], Awaitable[str | None]] | None = None
    # OpenAPI tags (name, description) of the module's routes.
    tags: Sequence[dict[str, str]] = field(default_factory=tuple)
    # Its operations' summaries, examples and domain errors, by operationId (the OpenAPI
    # document derives the rest from the routes: `platform.http.openapi`).
    operations: Callable[[], OperationDocs] | None = None
