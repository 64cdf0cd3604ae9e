"""Payments as a module of its own service: intents, provider webhooks, the reconciler,
merchant webhooks; mounted by the payments process (`mercato payments serve`), never by
the API (its contracts are what the API's contexts use)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

from mercato.payments.config import PaymentsSettings
from mercato.payments.schema import HISTORY
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
    from mercato.payments import api, webhook_api

    return (api.router, webhook_api.router, api.webhooks)


def _start(runtime: Runtime) -> AbstractAsyncContextManager[Started]:
    from mercato.payments.startup import start

    return start(runtime)


def _contracts() -> Sequence[type[EventPayload]]:
    from mercato.payments.events import CONTRACTS

    return CONTRACTS


def _consumers(runtime: Runtime) -> ConsumerRegistry:
    from mercato.payments import webhook_fanout

    return webhook_fanout.registry(runtime)


def _jobs() -> procrastinate.Blueprint:
    from mercato.payments import tasks

    return tasks.blueprint()


def _operations() -> OperationDocs:
    from mercato.payments import api_docs, webhook_api_docs

    return {**api_docs.OPERATIONS, **webhook_api_docs.OPERATIONS}


module = Module(
    name="payments",
    settings=PaymentsSettings,
    models=("mercato.payments.models",),
    migrations=str(HISTORY.location),
    routers=_routers,
    start=_start,
    contracts=_contracts,
    consumers=_consumers,
    jobs=_jobs,
    tags=(
        {
            "name": "payment intents",
            "description": "Create, confirm, capture, cancel and refund payments.",
        },
        {
            "name": "merchant webhooks",
            "description": "Endpoints that receive our events (Standard Webhooks), their"
            " deliveries, attempt log and replays.",
        },
        {
            "name": "provider webhooks",
            "description": "Signed notifications from the payment provider.",
        },
    ),
    operations=_operations,
)
