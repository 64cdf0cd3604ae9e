"""Orders as a module: carts, checkout, the saga that follows payments' events, orders."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

from mercato.orders.config import OrdersSettings
from mercato.platform.module import Module

if TYPE_CHECKING:
    import procrastinate
    from fastapi import APIRouter

    from mercato.platform.events.consumers import ConsumerRegistry
    from mercato.platform.events.contracts import EventPayload
    from mercato.platform.http.operation_docs import OperationDocs
    from mercato.platform.module import Started
    from mercato.platform.runtime import Runtime


def _routers() -> Sequence[APIRouter]:
    from mercato.orders import admin_api, api

    return (api.router, admin_api.router)


def _start(runtime: Runtime) -> AbstractAsyncContextManager[Started]:
    from mercato.orders.services import start

    return start(runtime)


def _contracts() -> Sequence[type[EventPayload]]:
    from mercato.orders.events import CONTRACTS

    return CONTRACTS


def _consumers(runtime: Runtime) -> ConsumerRegistry:
    from mercato.orders import consumers

    return consumers.registry(runtime)


def _jobs() -> procrastinate.Blueprint:
    from mercato.orders import tasks

    return tasks.blueprint()


def _operations() -> OperationDocs:
    from mercato.orders import api_docs

    return api_docs.OPERATIONS


module = Module(
    name="orders",
    settings=OrdersSettings,
    models=("mercato.orders.models",),
    routers=_routers,
    start=_start,
    contracts=_contracts,
    consumers=_consumers,
    jobs=_jobs,
    tags=(
        {
            "name": "orders",
            "description": "Your cart (or a guest's), checkout and your orders.",
        },
        {
            "name": "orders administration",
            "description": "Shipping methods and tax rates (orders:write).",
        },
    ),
    operations=_operations,
)
