"""Orders as a module: carts, checkout, the saga that follows payments' events, orders."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mercato.orders.config import OrdersSettings
from mercato.platform.module import Module

if TYPE_CHECKING:
    import procrastinate
    from fastapi import APIRouter

    from mercato.platform.events.consumers import ConsumerRegistry
    from mercato.platform.events.contracts import EventPayload
    from mercato.platform.http.operation_docs import OperationDocs
    from mercato.platform.runtime import Runtime


def _routers() -> Sequence[APIRouter]:
    from mercato.orders import admin_api

    return (admin_api.router,)


def _jobs() -> procrastinate.Blueprint:
    import procrastinate

    from mercato.orders import mails, reporting

    tasks = procrastinate.Blueprint()
    mails.add_tasks(tasks)
    reporting.add_tasks(tasks)
    return tasks


def _contracts() -> Sequence[type[EventPayload]]:
    from mercato.orders.events import CONTRACTS

    return CONTRACTS


def _consumers(runtime: Runtime) -> ConsumerRegistry:
    from mercato.orders import mails

    return mails.registry()


def _operations() -> OperationDocs:
    from mercato.orders import admin_api_docs

    return admin_api_docs.OPERATIONS


module = Module(
    name="orders",
    settings=OrdersSettings,
    # admin_search: the staff search's indexes on orders_order (declared beside its queries).
    models=("mercato.orders.models", "mercato.orders.admin_search"),
    routers=_routers,
    jobs=_jobs,
    contracts=_contracts,
    consumers=_consumers,
    tags=(
        {
            "name": "orders administration",
            "description": "Every order, its history, fulfilment, cancel, refunds; sales report.",
        },
    ),
    operations=_operations,
)
