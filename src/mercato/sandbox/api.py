"""The provider API (docs/sandbox.md): thin routes over the use cases.

Every POST runs through `run_idempotent` (one transaction, at most once per
Idempotency-Key); reads use a connection of their own.
"""

from __future__ import annotations

import asyncio
import re
from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.responses import Response

from mercato.sandbox import ledger
from mercato.sandbox.errors import json_response, not_found
from mercato.sandbox.faults import FaultPatch
from mercato.sandbox.idempotency import Answer, run_idempotent
from mercato.sandbox.intents import NewIntent
from mercato.sandbox.payment_methods import create_payment_method
from mercato.sandbox.resources import payment_method_json, refund_json
from mercato.sandbox.runtime import ApiKeyDep, RuntimeDep
from mercato.sandbox.schemas import (
    INTENT_ID,
    REFUND_ID,
    CancelIn,
    CaptureIn,
    ConfirmIn,
    CreateIntentIn,
    PaymentMethodIn,
    Reference,
    RefundIn,
)

router = APIRouter(prefix="/v1", tags=["provider"])
READINESS_TIMEOUT_S = 2.0


def _checked_id(value: str, pattern: re.Pattern[str], kind: str) -> str:
    """An id that cannot exist is a 404 without a query (and keeps NUL bytes and
    kilobytes of junk away from the database)."""
    if not pattern.fullmatch(value):
        raise not_found(kind)
    return value


@router.post("/payment_methods")
async def create_card(
    body: PaymentMethodIn, request: Request, api_key: ApiKeyDep, runtime: RuntimeDep
) -> Response:
    async def operation(connection: AsyncConnection) -> Answer:
        created = await create_payment_method(connection, body.card)
        return Answer(payment_method_json(created))

    return await run_idempotent(
        request, engine=runtime.engine, api_key=api_key, operation=operation
    )


@router.post("/payment_intents")
async def create_intent(
    body: CreateIntentIn, request: Request, api_key: ApiKeyDep, runtime: RuntimeDep
) -> Response:
    new = NewIntent(
        amount=body.amount,
        currency=body.currency,
        reference=body.reference,
        capture_method=body.capture_method,
        metadata=body.metadata,
    )

    async def operation(connection: AsyncConnection) -> Answer:
        return Answer(runtime.intents.as_json(await runtime.intents.create(connection, new)))

    return await run_idempotent(
        request, engine=runtime.engine, api_key=api_key, operation=operation
    )


@router.get("/payment_intents")
async def list_intents(
    reference: Annotated[Reference, Query()], _: ApiKeyDep, runtime: RuntimeDep
) -> Response:
    async with runtime.engine.connect() as connection:
        found = await runtime.intents.find_by_reference(connection, reference)
    data = [runtime.intents.as_json(intent) for intent in found]
    return json_response({"object": "list", "data": data})


@router.get("/payment_intents/{intent_id}")
async def retrieve_intent(intent_id: str, _: ApiKeyDep, runtime: RuntimeDep) -> Response:
    _checked_id(intent_id, INTENT_ID, "payment_intent")
    async with runtime.engine.connect() as connection:
        intent = await runtime.intents.get(connection, intent_id)
    return json_response(runtime.intents.as_json(intent))


@router.post("/payment_intents/{intent_id}/confirm")
async def confirm_intent(
    intent_id: str, body: ConfirmIn, request: Request, api_key: ApiKeyDep, runtime: RuntimeDep
) -> Response:
    _checked_id(intent_id, INTENT_ID, "payment_intent")

    async def operation(connection: AsyncConnection) -> Answer:
        confirmed = await runtime.intents.confirm(
            connection, intent_id, payment_method=body.payment_method, return_url=body.return_url
        )
        return Answer(runtime.intents.as_json(confirmed.intent), hold_s=confirmed.hold_s)

    return await run_idempotent(
        request, engine=runtime.engine, api_key=api_key, operation=operation
    )


@router.post("/payment_intents/{intent_id}/capture")
async def capture_intent(
    intent_id: str,
    request: Request,
    api_key: ApiKeyDep,
    runtime: RuntimeDep,
    body: CaptureIn | None = None,
) -> Response:
    _checked_id(intent_id, INTENT_ID, "payment_intent")
    amount = body.amount_to_capture if body is not None else None

    async def operation(connection: AsyncConnection) -> Answer:
        captured = await runtime.intents.capture(connection, intent_id, amount=amount)
        return Answer(runtime.intents.as_json(captured))

    return await run_idempotent(
        request, engine=runtime.engine, api_key=api_key, operation=operation
    )


@router.post("/payment_intents/{intent_id}/cancel")
async def cancel_intent(
    intent_id: str,
    request: Request,
    api_key: ApiKeyDep,
    runtime: RuntimeDep,
    body: CancelIn | None = None,
) -> Response:
    _checked_id(intent_id, INTENT_ID, "payment_intent")

    async def operation(connection: AsyncConnection) -> Answer:
        return Answer(runtime.intents.as_json(await runtime.intents.cancel(connection, intent_id)))

    return await run_idempotent(
        request, engine=runtime.engine, api_key=api_key, operation=operation
    )


@router.post("/refunds")
async def create_refund(
    body: RefundIn, request: Request, api_key: ApiKeyDep, runtime: RuntimeDep
) -> Response:
    async def operation(connection: AsyncConnection) -> Answer:
        created = await runtime.refunds.create(
            connection, intent_id=body.payment_intent, amount=body.amount
        )
        return Answer(refund_json(created))

    return await run_idempotent(
        request, engine=runtime.engine, api_key=api_key, operation=operation
    )


@router.get("/refunds/{refund_id}")
async def retrieve_refund(refund_id: str, _: ApiKeyDep, runtime: RuntimeDep) -> Response:
    _checked_id(refund_id, REFUND_ID, "refund")
    async with runtime.engine.connect() as connection:
        found = await runtime.refunds.get(connection, refund_id)
    return json_response(refund_json(found))


@router.get("/ledger")
async def read_ledger(
    _: ApiKeyDep, runtime: RuntimeDep, reference: Annotated[Reference | None, Query()] = None
) -> Response:
    async with runtime.engine.connect() as connection:
        return json_response(await ledger.totals(connection, reference=reference))


@router.get("/_sandbox/faults")
async def read_faults(_: ApiKeyDep, runtime: RuntimeDep) -> Response:
    return json_response(runtime.faults.knobs.model_dump())


@router.post("/_sandbox/faults")
async def change_faults(body: FaultPatch, _: ApiKeyDep, runtime: RuntimeDep) -> Response:
    knobs = runtime.faults.apply(body)
    if not knobs.webhooks_paused:
        runtime.clock.wake.set()  # resumed: deliver what waited at once
    return json_response(knobs.model_dump())


health = APIRouter(tags=["operations"])


@health.get("/health/live")
async def live() -> Response:
    return json_response({"status": "ok"})


@health.get("/health/ready")
async def ready(runtime: RuntimeDep) -> Response:
    try:
        await asyncio.wait_for(runtime.database.ping(), timeout=READINESS_TIMEOUT_S)
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        return json_response(
            {"status": "unavailable", "checks": {"database": "unavailable"}},
            status=503,
            headers={"Retry-After": "5"},
        )
    return json_response({"status": "ok", "checks": {"database": "ok"}})
