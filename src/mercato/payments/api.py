"""The payments service's API: payment intents (create, read, confirm, capture, cancel,
refund) and the providers' webhooks.

Creating calls take an `Idempotency-Key` (required to create an intent or a refund). An
intent's key is claimed in the intent's own transaction, its answer stored with it: a
retry gets the very same answer, and a crash can never leave one without the other.
"""

from __future__ import annotations

import uuid
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from mercato.payments import captures, confirmation, intents, provider_events, refunds
from mercato.payments.auth import Caller, IntentReader, IntentWriter, PaymentsDep
from mercato.payments.models import PaymentIntent
from mercato.payments.providers.base import WebhookRejected
from mercato.payments.repository import PaymentsReads
from mercato.payments.schemas import (
    CancelIn,
    CaptureIn,
    ConfirmIn,
    IntentIn,
    IntentOut,
    RefundIn,
    RefundOut,
)
from mercato.payments.search import IntentCriteria, IntentSearchParams, intent_search
from mercato.payments.tasks import process_provider_event_job
from mercato.platform.auth import public
from mercato.platform.concurrency import version_etag
from mercato.platform.deps import DatabaseDep, UnitOfWorkDep
from mercato.platform.errors import BadRequest, NotFound
from mercato.platform.idempotency import KeyClaim, idempotent, required_key
from mercato.platform.listing import Page, fetch_page, link_header, next_page_url

router = APIRouter(prefix="/api/v1", tags=["payment intents"])
webhooks = APIRouter(tags=["provider webhooks"])

IntentId = Annotated[uuid.UUID, Path(description="The payment intent's id")]


def _intent_response(intent: PaymentIntent, *, status_code: int = 200) -> JSONResponse:
    return JSONResponse(
        IntentOut.of(intent).model_dump(mode="json"),
        status_code=status_code,
        headers={"ETag": version_etag(intent.version)},
    )


@router.post(
    "/payment_intents",
    status_code=201,
    response_model=IntentOut,
    summary="Create a payment intent for an order (Idempotency-Key required)",
)
async def create_intent(
    body: IntentIn,
    caller: IntentWriter,
    request: Request,
    payments: PaymentsDep,
    uow: UnitOfWorkDep,
) -> Response:
    return await intents.create_intent(
        body,
        provider=payments.provider,
        uow=uow,
        claim=await KeyClaim.of(request, scope=f"payments:{caller.user_id}"),
        render=_created,
    )


def _created(intent: PaymentIntent) -> Response:
    created = _intent_response(intent, status_code=201)
    created.headers["Location"] = f"/api/v1/payment_intents/{intent.id}"
    return created


@router.get(
    "/payment_intents",
    response_model=Page[IntentOut],
    summary="Search payment intents (staff): filters, sorts, keyset pages",
)
async def search_intents(
    *,
    params: Annotated[IntentSearchParams, Query()],
    staff: IntentReader,
    request: Request,
    response: Response,
    database: DatabaseDep,
) -> Page[IntentOut]:
    async with database.read_session() as session:
        rows, cursor = await fetch_page(
            session,
            intent_search(IntentCriteria.of(params)),
            sort=params.sorting(),
            cursor=params.cursor,
            limit=params.limit,
        )
    next_url = next_page_url(request.url, cursor)
    response.headers.update(link_header(next_url))
    return Page[IntentOut](items=[IntentOut.of(row[0]) for row in rows], next=next_url)


@router.get("/payment_intents/{intent_id}", response_model=IntentOut, summary="A payment intent")
async def get_intent(intent_id: IntentId, caller: Caller, database: DatabaseDep) -> Response:
    """Yours (customers), or any (the API's services, staff)."""
    return _intent_response(
        await intents.intent_for(database, intent_id=intent_id, principal=caller)
    )


@router.post(
    "/payment_intents/{intent_id}/confirm",
    response_model=IntentOut,
    summary="Pay: confirm with a payment method (accepts Idempotency-Key)",
)
async def confirm_intent(
    *,
    intent_id: IntentId,
    body: ConfirmIn,
    caller: Caller,
    request: Request,
    payments: PaymentsDep,
    uow: UnitOfWorkDep,
) -> Response:
    """The answer says how it went: `succeeded`, `requires_capture`, `requires_action` (see
    `next_action`), `requires_payment_method` (declined: see `last_payment_error`), or
    `processing` (the provider will tell; poll or wait for the event)."""
    # The key is claimed with the attempt and answered with its outcome (see confirmation).
    claim = await KeyClaim.optional(request, scope=f"payments:{caller.user_id}")
    return await confirmation.confirm_intent(
        intent_id=intent_id,
        confirm=body,
        principal=caller,
        gateway=payments.gateway,
        uow=uow,
        recheck_after=payments.recheck_after,
        answer=confirmation.Answer(claim, _intent_response),
    )


@router.post(
    "/payment_intents/{intent_id}/capture",
    response_model=IntentOut,
    summary="Capture an authorised payment, in full or in part",
)
async def capture_intent(
    intent_id: IntentId,
    caller: IntentWriter,
    payments: PaymentsDep,
    uow: UnitOfWorkDep,
    body: CaptureIn | None = None,
) -> Response:
    intent = await captures.capture_intent(
        intent_id=intent_id,
        amount=body.amount if body is not None else None,
        principal=caller,
        gateway=payments.gateway,
        uow=uow,
    )
    return _intent_response(intent)


@router.post(
    "/payment_intents/{intent_id}/cancel",
    response_model=IntentOut,
    summary="Cancel an intent that has not been captured",
)
async def cancel_intent(
    intent_id: IntentId,
    caller: Caller,
    payments: PaymentsDep,
    uow: UnitOfWorkDep,
    body: CancelIn | None = None,
) -> Response:
    intent = await intents.cancel_intent(
        intent_id=intent_id,
        cancel=body or CancelIn(),
        principal=caller,
        gateway=payments.gateway,
        uow=uow,
    )
    return _intent_response(intent)


@router.post(
    "/payment_intents/{intent_id}/refunds",
    status_code=201,
    response_model=RefundOut,
    summary="Refund a captured payment, in full or in part (Idempotency-Key required)",
)
async def refund_intent(
    *,
    intent_id: IntentId,
    body: RefundIn,
    caller: IntentWriter,
    request: Request,
    payments: PaymentsDep,
    database: DatabaseDep,
    uow: UnitOfWorkDep,
) -> Response:
    required_key(request)
    async with idempotent(request, database, scope=f"payments:{caller.user_id}") as guard:
        if guard.replay is not None:
            return guard.replay
        refund = await refunds.refund_intent(
            intent_id=intent_id,
            refund_in=body,
            principal=caller,
            gateway=payments.gateway,
            uow=uow,
        )
        created = JSONResponse(RefundOut.of(refund).model_dump(mode="json"), status_code=201)
        return await guard.finish(created)


@router.get(
    "/payment_intents/{intent_id}/refunds",
    response_model=list[RefundOut],
    summary="The refunds of a payment intent",
)
async def list_refunds(
    intent_id: IntentId, caller: Caller, database: DatabaseDep
) -> list[RefundOut]:
    await intents.intent_for(database, intent_id=intent_id, principal=caller)
    async with database.read_session() as session:
        return [RefundOut.of(row) for row in await PaymentsReads(session).refunds_of(intent_id)]


@webhooks.post(
    "/webhooks/{provider}",
    summary="A payment provider's webhook (signed; answered at once, applied by a job)",
    dependencies=[Depends(public("provider-webhooks"))],
)
async def provider_webhook(
    provider: Annotated[str, Path(max_length=32)],
    request: Request,
    payments: PaymentsDep,
    uow: UnitOfWorkDep,
) -> Response:
    if provider != payments.provider:
        raise NotFound("No such provider.")
    try:
        fresh = await provider_events.receive(
            await request.body(),
            request.headers,
            gateway=payments.gateway,
            uow=uow,
            job_for=lambda event_id: process_provider_event_job(
                provider=provider, event_id=event_id
            ),
        )
    except WebhookRejected:
        raise BadRequest("The webhook's signature or timestamp does not verify.") from None
    return Response(
        orjson.dumps({"received": True, "duplicate": not fresh}), media_type="application/json"
    )
