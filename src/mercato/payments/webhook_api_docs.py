"""The merchant webhooks operations in the payments service's OpenAPI document: examples
and domain errors, keyed by operationId (see `platform.http.operation_docs`)."""

from __future__ import annotations

from typing import Any

from mercato.platform.http.operation_docs import OperationDoc, OperationDocs

ENDPOINT_ID = "0193a7c4-9a1d-7e00-8000-00000000e4d1"
DELIVERY_ID = "0193a7c4-9a1d-7e00-8000-0000000de11e"
ENDPOINT: dict[str, Any] = {
    "id": ENDPOINT_ID,
    "url": "https://shop.example.com/hooks/payments",
    "description": "Order fulfilment",
    "event_types": ["payments.intent.succeeded", "payments.refund.succeeded"],
    "enabled": True,
    "disabled_reason": None,
    "disabled_at": None,
    "previous_secret_expires_at": None,
    "version": 1,
    "created_at": "2026-12-01T10:00:00Z",
    "updated_at": "2026-12-01T10:00:00Z",
}
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw2mMmRyXCqDI="  # noqa: S105 - an example
DISABLED = dict(
    ENDPOINT,
    enabled=False,
    disabled_reason="gone",
    disabled_at="2026-12-02T08:00:00Z",
    version=2,
    updated_at="2026-12-02T08:00:00Z",
)
DELIVERY: dict[str, Any] = {
    "id": DELIVERY_ID,
    "endpoint_id": ENDPOINT_ID,
    "event_id": "0193a7c4-9a1d-7e00-8000-00000000e7e1",
    "event_type": "payments.intent.succeeded",
    "status": "pending",
    "attempts": 2,
    "last_status_code": 503,
    "last_error": "http_503",
    "next_attempt_at": "2026-12-01T10:35:05Z",
    "created_at": "2026-12-01T10:00:00Z",
    "delivered_at": None,
}
_PAGE_NEXT = "?limit=50&cursor=eyJzIjoiLWNyZWF0ZWRfYXQsLWlkIiwidiI6W119"
_VERSIONED = "A stale If-Match (412) or version (409); neither (428)."

OPERATIONS: OperationDocs = {
    "merchant-webhooks-create-endpoint": OperationDoc(
        request={
            "url": ENDPOINT["url"],
            "event_types": ENDPOINT["event_types"],
            "description": ENDPOINT["description"],
        },
        response=dict(ENDPOINT, secret=SECRET),
        headers=("ETag", "Location"),
        idempotency="accepted",
        errors={
            422: "A field is invalid: an unknown event type, or a URL webhooks are not sent to"
            " (`/problems/invalid-webhook-target`: scheme, credentials, a private address).",
        },
    ),
    "merchant-webhooks-list-endpoints": OperationDoc(
        response={"items": [ENDPOINT], "next": "/api/v1/webhook_endpoints" + _PAGE_NEXT},
        headers=("Link",),
    ),
    "merchant-webhooks-get-endpoint": OperationDoc(
        response=ENDPOINT, headers=("ETag",), errors={404: "No such endpoint (or deleted)."}
    ),
    "merchant-webhooks-update-endpoint": OperationDoc(
        request={"enabled": True, "version": 2},
        response=dict(ENDPOINT, version=3, updated_at="2026-12-02T09:00:00Z"),
        headers=("ETag",),
        errors={404: "No such endpoint (or deleted).", 409: _VERSIONED, 412: _VERSIONED},
    ),
    "merchant-webhooks-delete-endpoint": OperationDoc(
        errors={404: "No such endpoint (or deleted already)."}
    ),
    "merchant-webhooks-rotate-secret": OperationDoc(
        response={
            "id": ENDPOINT_ID,
            "secret": SECRET,
            "previous_secret_expires_at": "2026-12-02T10:00:00Z",
            "version": 2,
        },
        headers=("ETag",),
        idempotency="accepted",
        errors={404: "No such endpoint (or deleted)."},
    ),
    "merchant-webhooks-list-deliveries": OperationDoc(
        response={
            "items": [DELIVERY],
            "next": f"/api/v1/webhook_endpoints/{ENDPOINT_ID}/deliveries" + _PAGE_NEXT,
        },
        headers=("Link",),
        errors={404: "No such endpoint (or deleted)."},
    ),
    "merchant-webhooks-get-delivery": OperationDoc(
        response=DELIVERY, errors={404: "No such delivery."}
    ),
    "merchant-webhooks-list-attempts": OperationDoc(
        response={
            "items": [
                {
                    "number": 1,
                    "trigger": "scheduled",
                    "started_at": "2026-12-01T10:00:00Z",
                    "duration_ms": 212,
                    "status_code": 503,
                    "error": "http_503",
                    "response_excerpt": "upstream unavailable",
                }
            ],
            "next": None,
        },
        headers=("Link",),
        errors={404: "No such delivery."},
    ),
    "merchant-webhooks-replay-delivery": OperationDoc(
        response=dict(DELIVERY, status="abandoned", next_attempt_at=None),
        errors={
            404: "No such delivery (or its endpoint was deleted).",
            409: "The endpoint is disabled: enable it again first"
            " (`/problems/webhook-endpoint-disabled`).",
        },
    ),
}
