"""The payments service's operations in its OpenAPI document: examples, domain errors.

Keyed by operationId; the rest (policy, statuses, headers) is derived from the routes by
`platform.http.openapi`. Examples are validated against their schemas by a test.
"""

from __future__ import annotations

from typing import Any

from mercato.platform.http.operation_docs import OperationDoc, OperationDocs

INTENT_ID = "0193a7c4-9a1d-7e00-8000-1a7e0000beef"
INTENT: dict[str, Any] = {
    "id": INTENT_ID,
    "status": "requires_payment_method",
    "amount": 4990,
    "currency": "EUR",
    "capture_method": "automatic",
    "order_reference": "order-2026-000123",
    "customer_id": "0193a7c4-0000-7a1e-8d1e-ada000000001",
    "description": "Order 2026-000123",
    "metadata": {"channel": "web"},
    "amount_capturable": 0,
    "amount_received": 0,
    "amount_refunded": 0,
    "last_payment_error": None,
    "next_action": None,
    "version": 1,
    "created_at": "2026-12-01T10:00:00Z",
    "updated_at": "2026-12-01T10:00:00Z",
}
SUCCEEDED = dict(
    INTENT, status="succeeded", amount_received=4990, version=3, updated_at="2026-12-01T10:00:04Z"
)
REFUND = {
    "id": "0193a7c4-9a1d-7e00-8000-0000000fe0d0",
    "intent_id": INTENT_ID,
    "amount": 1000,
    "currency": "EUR",
    "status": "succeeded",
    "reason": "requested_by_customer",
    "failure_code": None,
    "created_at": "2026-12-02T09:00:00Z",
}
_STATE = "The intent is not in a state that allows this (see `type`)."

OPERATIONS: OperationDocs = {
    "payment-intents-create-intent": OperationDoc(
        request={
            "amount": 4990,
            "currency": "EUR",
            "order_reference": "order-2026-000123",
            "customer_id": "0193a7c4-0000-7a1e-8d1e-ada000000001",
            "description": "Order 2026-000123",
            "metadata": {"channel": "web"},
        },
        response=INTENT,
        headers=("ETag", "Location"),
        idempotency="required",
        errors={409: "The order already has an intent, or this key's request is running."},
    ),
    "payment-intents-search-intents": OperationDoc(
        response={
            "items": [SUCCEEDED],
            "next": "/api/v1/payment_intents?status=succeeded&cursor=eyJrIjpbIjIwMjYtMTIt",
        },
        headers=("Link",),
        errors={
            403: "Only staff (payments:read_any) search intents.",
            422: "A filter, sort or cursor is invalid.",
        },
    ),
    "payment-intents-get-intent": OperationDoc(
        response=SUCCEEDED, headers=("ETag",), errors={404: "No such intent of yours."}
    ),
    "payment-intents-confirm-intent": OperationDoc(
        request={"payment_method": "pm_card_visa", "return_url": "https://shop.example.com/done"},
        response=SUCCEEDED,
        headers=("ETag",),
        idempotency="accepted",
        errors={
            409: "A payment attempt is in progress, or " + _STATE.lower(),
            422: "A field is invalid, or the provider refused the payment method.",
            503: "The payment provider is unavailable: retry after `Retry-After`.",
        },
    ),
    "payment-intents-capture-intent": OperationDoc(
        request={"amount": 4990},
        response=dict(
            INTENT, capture_method="manual", status="succeeded", amount_received=4990, version=4
        ),
        headers=("ETag",),
        errors={409: _STATE, 503: "The payment provider is unavailable."},
    ),
    "payment-intents-cancel-intent": OperationDoc(
        request={"reason": "requested_by_customer"},
        response=dict(INTENT, status="canceled", version=2),
        headers=("ETag",),
        errors={409: _STATE, 503: "The payment provider is unavailable."},
    ),
    "payment-intents-refund-intent": OperationDoc(
        request={"amount": 1000, "reason": "requested_by_customer"},
        response=REFUND,
        idempotency="required",
        errors={
            409: "More than was captured and not yet refunded, or " + _STATE.lower(),
            503: "The payment provider is unavailable.",
        },
    ),
    "payment-intents-list-refunds": OperationDoc(response=[REFUND]),
    "provider-webhooks-provider-webhook": OperationDoc(
        response={"received": True, "duplicate": False},
        errors={
            400: "The signature or its timestamp does not verify.",
            404: "This service is not configured for that provider.",
        },
    ),
}
