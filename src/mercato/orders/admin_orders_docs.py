"""The staff's order operations in the OpenAPI document: summaries, examples, domain
errors (keyed by operationId; the rest is derived from the routes)."""

from __future__ import annotations

from typing import Any

from mercato.platform.http.operation_docs import OperationDoc, OperationDocs

ORDER_ID = "0193a7c4-5e1f-7b2a-9c3d-4e5f6a7b0d01"
CUSTOMER_ID = "0193a7c4-5e1f-7000-8000-00000000c057"
VARIANT_ID = "0193a7c4-5e1f-7b2a-9c3d-4e5f6a7b8c9e"
PRODUCT_ID = "0193a7c4-5e1f-7b2a-9c3d-4e5f6a7b8c9d"
CATEGORY_ID = "0193a7c4-5e1f-7000-8000-00000000c0de"
INTENT_ID = "0193a7c4-5e1f-7b2a-9c3d-00000000a11e"

SUMMARY: dict[str, Any] = {
    "id": ORDER_ID,
    "customer_id": CUSTOMER_ID,
    "status": "paid",
    "currency": "EUR",
    "total_minor": 4478,
    "refunded_minor": 0,
    "created_at": "2026-12-01T09:30:00Z",
    "paid_at": "2026-12-01T09:31:12Z",
    "fulfilled_at": None,
    "canceled_at": None,
    "version": 2,
}
ORDER: dict[str, Any] = {
    **SUMMARY,
    "subtotal_minor": 3319,
    "shipping_minor": 490,
    "tax_minor": 669,
    "tax_rate_bp": 2000,
    "shipping_method_code": "standard",
    "shipping_country": "FR",
    "payment_intent_id": INTENT_ID,
    "cancel_reason": None,
    "lines": [
        {
            "variant_id": VARIANT_ID,
            "product_id": PRODUCT_ID,
            "category_id": CATEGORY_ID,
            "sku": "KIT-0000001-CU",
            "name": "Halden copper kettle",
            "title": "Copper",
            "unit_price_minor": 3319,
            "quantity": 1,
            "line_total_minor": 3319,
        }
    ],
}
ILLEGAL = "The order's status does not allow this change (`illegal-order-transition`)."

OPERATIONS: OperationDocs = {
    "orders-administration-search-orders": OperationDoc(
        summary="Search every order (status, customer, email, dates, totals)",
        response={
            "items": [SUMMARY],
            "next": "/api/v1/admin/orders?status=paid&limit=1&cursor=eyJzIjoiLWNyZWF0ZWRfYXQifQ",
        },
        headers=("Link",),
    ),
    "orders-administration-admin-order": OperationDoc(
        summary="Any customer's order, with its lines",
        response=ORDER,
        errors={404: "No order has this id."},
    ),
    "orders-administration-order-history": OperationDoc(
        summary="An order's history: every transition, who made it and when",
        response={
            "order_id": ORDER_ID,
            "entries": [
                {
                    "at": "2026-12-01T09:30:00Z",
                    "from_status": None,
                    "to_status": "pending_payment",
                    "event": "placed",
                    "actor": f"customer:{CUSTOMER_ID}",
                    "detail": None,
                    "amount_minor": None,
                },
                {
                    "at": "2026-12-01T09:31:12Z",
                    "from_status": "pending_payment",
                    "to_status": "paid",
                    "event": "paid",
                    "actor": "payments",
                    "detail": None,
                    "amount_minor": 4478,
                },
            ],
        },
        errors={404: "No order has this id."},
    ),
    "orders-administration-fulfil-order": OperationDoc(
        summary="Mark a paid order fulfilled (shipped)",
        response=dict(ORDER, status="fulfilled", fulfilled_at="2026-12-02T08:00:00Z", version=3),
        errors={404: "No order has this id.", 409: ILLEGAL},
    ),
    "orders-administration-cancel-order": OperationDoc(
        summary="Cancel an unpaid order (its stock is released)",
        request={"reason": "admin"},
        response=dict(
            ORDER,
            status="canceled",
            paid_at=None,
            canceled_at="2026-12-01T09:40:00Z",
            cancel_reason="admin",
            version=2,
        ),
        errors={404: "No order has this id.", 409: ILLEGAL + " Refund a paid order instead."},
    ),
    "orders-administration-refund-order": OperationDoc(
        summary="Refund a paid order, in full or in part, through the payments service",
        request={"amount_minor": 1000},
        response=dict(ORDER, status="partially_refunded", refunded_minor=1000, version=3),
        idempotency="required",
        errors={
            404: "No order has this id.",
            409: ILLEGAL
            + " Or more than is left to refund (`refund-too-large`), payments refused it"
            " (`refund-refused`), or a request with this Idempotency-Key is running.",
            503: "The payments service cannot be reached right now (`payments-unavailable`).",
        },
    ),
    "orders-administration-sales-report": OperationDoc(
        summary="Sales per day, product, variant or category: units, gross, refunds",
        response={
            "from": "2026-12-01",
            "to": "2026-12-31",
            "group_by": ["day", "category"],
            "refreshed_at": "2026-12-31T23:55:00.412Z",
            "items": [
                {
                    "day": "2026-12-01",
                    "currency": "EUR",
                    "product_id": None,
                    "variant_id": None,
                    "category_id": CATEGORY_ID,
                    "units": 12,
                    "gross_minor": 39828,
                    "refunds_minor": 3319,
                    "net_minor": 36509,
                }
            ],
            "next": None,
        },
        headers=("Link",),
    ),
    "orders-administration-refresh-sales-report": OperationDoc(
        summary="Refresh the sales report now (a job; it never blocks readers)",
    ),
}
