"""The catalog as a module: categories, products, stock, the public reads and their cache."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

from mercato.catalog.config import CatalogSettings
from mercato.platform.module import Module

if TYPE_CHECKING:
    from fastapi import APIRouter
    from starlette.middleware import Middleware

    from mercato.platform.cli import CommandLine
    from mercato.platform.events.consumers import ConsumerRegistry
    from mercato.platform.events.contracts import EventPayload
    from mercato.platform.http.operation_docs import OperationDocs
    from mercato.platform.module import Started
    from mercato.platform.runtime import Runtime


def _routers() -> Sequence[APIRouter]:
    from mercato.catalog import admin_api, api

    # The public reads first: routes match in order, and they are the hottest.
    return (api.router, admin_api.router)


def _middleware() -> Sequence[Middleware]:
    from starlette.middleware import Middleware

    from mercato.catalog.fast_path import CachedCatalogReads

    return (Middleware(CachedCatalogReads),)


def _start(runtime: Runtime) -> AbstractAsyncContextManager[Started]:
    from mercato.catalog.services import start

    return start(runtime)


def _contracts() -> Sequence[type[EventPayload]]:
    from mercato.catalog.events import CONTRACTS

    return CONTRACTS


def _consumers(runtime: Runtime) -> ConsumerRegistry:
    from mercato.catalog import consumers

    return consumers.registry(runtime)


def _cli(cli: CommandLine) -> None:
    from mercato.catalog.cli import register

    register(cli)


async def _demo(runtime: Runtime) -> str | None:
    from mercato.catalog.cli import demo_catalog

    return await demo_catalog(runtime)


def _operations() -> OperationDocs:
    from mercato.catalog import api_docs

    return api_docs.OPERATIONS


module = Module(
    name="catalog",
    settings=CatalogSettings,
    models=("mercato.catalog.models",),
    routers=_routers,
    middleware=_middleware,
    start=_start,
    contracts=_contracts,
    consumers=_consumers,
    cli=_cli,
    demo=_demo,
    tags=(
        {"name": "catalog", "description": "Browse, filter and search products; categories."},
        {
            "name": "catalog administration",
            "description": "Products, categories and stock (catalog editors).",
        },
    ),
    operations=_operations,
)
