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
    from mercato.orders import admin_api, admin_orders, api

    return (api.router, admin_api.router, admin_orders.router)


def _start(runtime: Runtime) -> AbstractAsyncContextManager[Started]:
    from mercato.orders.services import start

    return start(runtime)


def _contracts() -> Sequence[type[EventPayload]]:
    from mercato.orders.events import CONTRACTS

    return CONTRACTS


def _consumers(runtime: Runtime) -> ConsumerRegistry:
    from mercato.orders import consumers, mails

    registry = consumers.registry(runtime)
    registry.include(mails.registry())  # orders-mails: paid and canceled orders are mailed
    return registry


def _jobs() -> procrastinate.Blueprint:
    from mercato.orders import mails, reporting, tasks

    blueprint = tasks.blueprint()
    mails.add_tasks(blueprint)
    reporting.add_tasks(blueprint)  # the sales view's refresh, on request and periodic
    return blueprint


def _operations() -> OperationDocs:
    from mercato.orders import admin_orders_docs, api_docs

    return {**api_docs.OPERATIONS, **admin_orders_docs.OPERATIONS}


module = Module(
    name="orders",
    settings=OrdersSettings,
    # admin_search: the staff search's indexes on orders_order (declared beside its queries).
    models=("mercato.orders.models", "mercato.orders.admin_search"),
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
            "description": "Every order: search, history, fulfil, cancel, refund; the sales"
            " report; shipping methods and tax rates.",
        },
    ),
    operations=_operations,
)
