"""The merchant webhooks API (permission `payments:admin`): endpoints, their deliveries,
the attempt log, replays. Routes only: parse, authorise, call the use case, shape.

An endpoint's secret appears in exactly two answers: its creation and its rotation.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from mercato.payments import webhook_endpoints, webhook_replay
from mercato.payments.auth import PaymentsAdmin, PaymentsDep
from mercato.payments.errors import WebhookDeliveryNotFound, WebhookEndpointNotFound
from mercato.payments.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from mercato.payments.webhook_repository import (
    DeliveryFilter,
    WebhookReads,
    attempts_query,
    deliveries_query,
    endpoints_query,
)
from mercato.payments.webhook_schemas import (
    AttemptListParams,
    AttemptOut,
    DeliveryListParams,
    DeliveryOut,
    EndpointCreatedOut,
    EndpointIn,
    EndpointListParams,
    EndpointOut,
    EndpointPatchIn,
    SecretRotatedOut,
)
from mercato.platform.concurrency import ExpectedVersion, version_etag
from mercato.platform.db.database import Database
from mercato.platform.deps import DatabaseDep, UnitOfWorkDep
from mercato.platform.idempotency import HEADER, KeyClaim
from mercato.platform.listing import (
    Page,
    Sort,
    SortField,
    fetch_page,
    link_header,
    next_page_url,
    parse_datetime,
    parse_int32,
    parse_uuid,
)

router = APIRouter(prefix="/api/v1", tags=["merchant webhooks"])

EndpointId = Annotated[uuid.UUID, Path(description="The webhook endpoint's id")]
DeliveryId = Annotated[uuid.UUID, Path(description="The delivery's id (its `webhook-id`)")]
IfMatch = Annotated[str | None, Header(max_length=200)]

_NEWEST_ENDPOINTS = Sort.parse(
    "-created_at",
    allowed={"created_at": SortField(WebhookEndpoint.created_at, parse_datetime)},
    tiebreaker=SortField(WebhookEndpoint.id, parse_uuid),
)
_NEWEST_DELIVERIES = Sort.parse(
    "-created_at",
    allowed={"created_at": SortField(WebhookDelivery.created_at, parse_datetime)},
    tiebreaker=SortField(WebhookDelivery.id, parse_uuid),
)
_ATTEMPTS_IN_ORDER = Sort.parse(
    "number",
    allowed={"number": SortField(WebhookAttempt.number, parse_int32)},
    tiebreaker=SortField(WebhookAttempt.number, parse_int32),
)


def _versioned(endpoint: WebhookEndpoint, *, status_code: int = 200) -> JSONResponse:
    return JSONResponse(
        EndpointOut.of(endpoint).model_dump(mode="json"),
        status_code=status_code,
        headers={"ETag": version_etag(endpoint.version)},
    )


def _created(endpoint: WebhookEndpoint, secret: str | None) -> Response:
    body = EndpointCreatedOut(**EndpointOut.of(endpoint).model_dump(), secret=secret)
    return JSONResponse(
        body.model_dump(mode="json"),
        status_code=201,
        headers={
            "ETag": version_etag(endpoint.version),
            "Location": f"/api/v1/webhook_endpoints/{endpoint.id}",
        },
    )


async def _endpoint(database: Database, endpoint_id: uuid.UUID) -> WebhookEndpoint:
    """Read on the primary: an administrator sees their own change at once."""
    async with database.session() as session:
        endpoint = await WebhookReads(session).endpoint(endpoint_id)
    if endpoint is None:
        raise WebhookEndpointNotFound()
    return endpoint


@router.post(
    "/webhook_endpoints",
    status_code=201,
    response_model=EndpointCreatedOut,
    summary="Register a merchant webhook endpoint (accepts Idempotency-Key)",
)
async def create_endpoint(
    body: EndpointIn,
    admin: PaymentsAdmin,
    request: Request,
    payments: PaymentsDep,
    uow: UnitOfWorkDep,
) -> Response:
    """The answer holds the endpoint's signing secret (`whsec_…`): store it now, it is never
    shown again."""
    claim = None
    if request.headers.get(HEADER) is not None:
        claim = await KeyClaim.of(request, scope=f"payments:{admin.user_id}")
    return await webhook_endpoints.register_endpoint(
        body,
        uow=uow,
        keys=payments.field_keys,
        targets=payments.webhook_targets,
        claim=claim,
        render=_created,
    )


@router.get(
    "/webhook_endpoints",
    response_model=Page[EndpointOut],
    summary="Webhook endpoints, newest first (keyset pages)",
)
async def list_endpoints(
    *,
    admin: PaymentsAdmin,
    params: Annotated[EndpointListParams, Query()],
    request: Request,
    response: Response,
    database: DatabaseDep,
) -> Page[EndpointOut]:
    async with database.read_session() as session:
        rows, cursor = await fetch_page(
            session,
            endpoints_query(enabled=params.enabled),
            sort=_NEWEST_ENDPOINTS,
            cursor=params.cursor,
            limit=params.limit,
        )
    next_url = next_page_url(request.url, cursor)
    response.headers.update(link_header(next_url))
    return Page[EndpointOut](items=[EndpointOut.of(row[0]) for row in rows], next=next_url)


@router.get(
    "/webhook_endpoints/{endpoint_id}", response_model=EndpointOut, summary="A webhook endpoint"
)
async def get_endpoint(
    endpoint_id: EndpointId, admin: PaymentsAdmin, database: DatabaseDep
) -> Response:
    return _versioned(await _endpoint(database, endpoint_id))


@router.patch(
    "/webhook_endpoints/{endpoint_id}",
    response_model=EndpointOut,
    summary="Change an endpoint; `enabled: true` re-enables a disabled one",
)
async def update_endpoint(
    *,
    endpoint_id: EndpointId,
    body: EndpointPatchIn,
    admin: PaymentsAdmin,
    payments: PaymentsDep,
    uow: UnitOfWorkDep,
    if_match: IfMatch = None,
) -> Response:
    """Needs If-Match (412 when stale) or `version` (409 when stale); 428 without either."""
    endpoint = await webhook_endpoints.update_endpoint(
        endpoint_id=endpoint_id,
        changes=body,
        expected=ExpectedVersion.from_request(if_match=if_match, body_version=body.version),
        uow=uow,
        targets=payments.webhook_targets,
    )
    return _versioned(endpoint)


@router.delete(
    "/webhook_endpoints/{endpoint_id}", status_code=204, summary="Delete an endpoint (soft)"
)
async def delete_endpoint(
    endpoint_id: EndpointId, admin: PaymentsAdmin, uow: UnitOfWorkDep
) -> Response:
    """No more deliveries; pending ones are abandoned; the delivery log stays."""
    await webhook_endpoints.delete_endpoint(endpoint_id=endpoint_id, uow=uow)
    return Response(status_code=204)


def _rotated(endpoint: WebhookEndpoint, secret: str | None) -> Response:
    body = SecretRotatedOut(
        id=endpoint.id,
        secret=secret,
        previous_secret_expires_at=endpoint.previous_secret_expires_at,
        version=endpoint.version,
    )
    return JSONResponse(
        body.model_dump(mode="json"), headers={"ETag": version_etag(endpoint.version)}
    )


@router.post(
    "/webhook_endpoints/{endpoint_id}/rotate-secret",
    response_model=SecretRotatedOut,
    summary="A new signing secret; the previous one keeps signing during a grace period"
    " (accepts Idempotency-Key)",
)
async def rotate_secret(
    endpoint_id: EndpointId,
    admin: PaymentsAdmin,
    request: Request,
    payments: PaymentsDep,
    uow: UnitOfWorkDep,
) -> Response:
    """The answer holds the new secret, shown this once. Deliveries carry a signature with
    each secret until `previous_secret_expires_at`. Send an Idempotency-Key: a retry with it
    does not rotate a second time (which would drop the secret your receiver verifies
    with); its replay answers `secret: null`."""
    claim = None
    if request.headers.get(HEADER) is not None:
        claim = await KeyClaim.of(request, scope=f"payments:{admin.user_id}")
    return await webhook_endpoints.rotate_secret(
        endpoint_id=endpoint_id,
        uow=uow,
        keys=payments.field_keys,
        grace=payments.secret_grace,
        claim=claim,
        render=_rotated,
    )


@router.get(
    "/webhook_endpoints/{endpoint_id}/deliveries",
    response_model=Page[DeliveryOut],
    summary="An endpoint's deliveries, newest first (keyset pages)",
)
async def list_deliveries(
    *,
    endpoint_id: EndpointId,
    admin: PaymentsAdmin,
    params: Annotated[DeliveryListParams, Query()],
    request: Request,
    response: Response,
    database: DatabaseDep,
) -> Page[DeliveryOut]:
    await _endpoint(database, endpoint_id)
    criteria = DeliveryFilter(
        endpoint_id=endpoint_id, status=params.status.value if params.status else None
    )
    async with database.read_session() as session:
        rows, cursor = await fetch_page(
            session,
            deliveries_query(criteria),
            sort=_NEWEST_DELIVERIES,
            cursor=params.cursor,
            limit=params.limit,
        )
    next_url = next_page_url(request.url, cursor)
    response.headers.update(link_header(next_url))
    return Page[DeliveryOut](items=[DeliveryOut.of(row[0]) for row in rows], next=next_url)


@router.get("/webhook_deliveries/{delivery_id}", response_model=DeliveryOut, summary="A delivery")
async def get_delivery(
    delivery_id: DeliveryId, admin: PaymentsAdmin, database: DatabaseDep
) -> DeliveryOut:
    async with database.session() as session:
        delivery = await WebhookReads(session).delivery(delivery_id)
    if delivery is None:
        raise WebhookDeliveryNotFound()
    return DeliveryOut.of(delivery)


@router.get(
    "/webhook_deliveries/{delivery_id}/attempts",
    response_model=Page[AttemptOut],
    summary="A delivery's attempt log, oldest first (keyset pages)",
)
async def list_attempts(
    *,
    delivery_id: DeliveryId,
    admin: PaymentsAdmin,
    params: Annotated[AttemptListParams, Query()],
    request: Request,
    response: Response,
    database: DatabaseDep,
) -> Page[AttemptOut]:
    async with database.session() as session:
        if await WebhookReads(session).delivery(delivery_id) is None:
            raise WebhookDeliveryNotFound()
        rows, cursor = await fetch_page(
            session,
            attempts_query(delivery_id),
            sort=_ATTEMPTS_IN_ORDER,
            cursor=params.cursor,
            limit=params.limit,
        )
    next_url = next_page_url(request.url, cursor)
    response.headers.update(link_header(next_url))
    return Page[AttemptOut](items=[AttemptOut.of(row[0]) for row in rows], next=next_url)


@router.post(
    "/webhook_deliveries/{delivery_id}/replay",
    status_code=202,
    response_model=DeliveryOut,
    summary="Send a delivery again now (same webhook-id); its endpoint must be enabled",
)
async def replay_delivery(
    delivery_id: DeliveryId, admin: PaymentsAdmin, uow: UnitOfWorkDep
) -> DeliveryOut:
    """One attempt outside the retry schedule, for a delivery in any state: abandoned ones
    after the endpoint is enabled again, failed ones, or a delivered one sent again."""
    return DeliveryOut.of(await webhook_replay.replay_delivery(delivery_id=delivery_id, uow=uow))
