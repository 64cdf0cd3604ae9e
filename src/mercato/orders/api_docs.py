"""Orders' operations in the OpenAPI document: summaries, examples, domain errors.

Keyed by operationId; the rest (policy, statuses, headers) is derived from the routes by
`platform.http.openapi`. Examples are validated against their schemas by a test.
"""

from __future__ import annotations

from typing import Any

from mercato.platform.http.operation_docs import OperationDoc, OperationDocs

ORDER_ID = "0193a7c4-9a10-7c3e-8f00-0000000000a1"
VARIANT_ID = "0193a7c4-5e1f-7b2a-9c3d-4e5f6a7b8c9d"
PRODUCT_ID = "0193a7c4-5e1f-7b2a-9c3d-4e5f6a7b0000"
INTENT_ID = "0193a7c4-9a11-7000-8000-00000000beef"
METHOD_ID = "0193a7c4-9a12-7000-8000-0000000005e1"
ADDRESS: dict[str, Any] = {
    "name": "Ada Lovelace",
    "line1": "12 rue des Lilas",
    "line2": None,
    "city": "Lyon",
    "region": None,
    "postal_code": "69003",
    "country": "FR",
    "phone": None,
}
LINE: dict[str, Any] = {
    "variant_id": VARIANT_ID,
    "product_id": PRODUCT_ID,
    "sku": "KIT-0000001-M-RED",
    "name": "Halden copper kettle",
    "title": "1.5 l / Copper",
    "quantity": 2,
    "unit_price_minor": 3319,
    "line_total_minor": 6638,
    "added_unit_price_minor": 3319,
    "price_changed": False,
    "availability": "available",
}
TOTALS = {
    "subtotal_minor": 6638,
    "shipping_minor": 490,
    "tax_minor": 1426,
    "tax_rate_bp": 2000,
    "total_minor": 8554,
}
CART: dict[str, Any] = {
    "id": "0193a7c4-9a13-7000-8000-0000000000ca",
    "currency": "EUR",
    "lines": [LINE],
    "shipping": {"method": "standard", "name": "Standard (3-5 days)", "price_minor": 490},
    "shipping_address": ADDRESS,
    "totals": TOTALS,
    "changed": False,
    "ready_for_checkout": True,
    "version": 4,
    "cart_token": None,
}
EMPTY_GUEST_CART: dict[str, Any] = {
    "id": "0193a7c4-9a13-7000-8000-0000000000cb",
    "currency": None,
    "lines": [],
    "shipping": None,
    "shipping_address": None,
    "totals": None,
    "changed": False,
    "ready_for_checkout": False,
    "version": 1,
    "cart_token": "m3kH0bV2c8Q1rXxW9aZpL5nT7yUeR4sJ6dFgH2jK8lM",
}
ORDER: dict[str, Any] = {
    "id": ORDER_ID,
    "status": "pending_payment",
    "currency": "EUR",
    "lines": [
        {
            "variant_id": VARIANT_ID,
            "product_id": PRODUCT_ID,
            "sku": "KIT-0000001-M-RED",
            "name": "Halden copper kettle",
            "title": "1.5 l / Copper",
            "unit_price_minor": 3319,
            "quantity": 2,
            "line_total_minor": 6638,
        }
    ],
    **TOTALS,
    "refunded_minor": 0,
    "shipping_method": "standard",
    "shipping_address": ADDRESS,
    "reserved_until": "2026-12-01T18:15:00Z",
    "payment": {
        "status": "requires_payment",
        "intent_id": INTENT_ID,
        "confirm_url": f"http://127.0.0.1:8001/api/v1/payment_intents/{INTENT_ID}/confirm",
    },
    "version": 1,
    "created_at": "2026-12-01T18:00:00Z",
    "updated_at": "2026-12-01T18:00:00Z",
}
SUMMARY = {
    "id": ORDER_ID,
    "status": "paid",
    "currency": "EUR",
    "total_minor": 8554,
    "created_at": "2026-12-01T18:00:00Z",
}
METHOD = {
    "id": METHOD_ID,
    "code": "standard",
    "name": "Standard (3-5 days)",
    "active": True,
    "prices": {"EUR": 490, "USD": 550},
    "version": 1,
}
_CART_ERRORS = {
    401: "The access token is not valid (a guest sends no Authorization header).",
    404: "No cart for this Cart-Token (and no Authorization header).",
}

OPERATIONS: OperationDocs = {
    "orders-open-cart": OperationDoc(response=EMPTY_GUEST_CART, errors=_CART_ERRORS),
    "orders-get-cart": OperationDoc(response=CART, errors=_CART_ERRORS),
    "orders-add-line": OperationDoc(
        request={"variant_id": VARIANT_ID, "quantity": 2, "currency": "EUR"},
        response=CART,
        errors={
            **_CART_ERRORS,
            409: "The variant is out of stock, the cart is in another currency, or (only with"
            " `CATALOG_EXPOSE_STOCK_COUNTS`) not that many units are available: with stock"
            " counts private any quantity up to the maximum is taken and checkout holds the"
            " count.",
            422: "The variant is not for sale in that currency, the line would hold more than"
            " the maximum, the cart is full, or the first line names no currency.",
        },
    ),
    "orders-set-line": OperationDoc(
        request={"quantity": 3},
        response=CART,
        errors={
            **_CART_ERRORS,
            404: "No cart, or the cart has no line for this variant.",
            409: "The variant is out of stock, or (only with `CATALOG_EXPOSE_STOCK_COUNTS`)"
            " not that many units are available.",
            422: "More than the maximum, or the variant is no longer for sale.",
        },
    ),
    "orders-remove-line": OperationDoc(
        response=dict(CART, lines=[], totals=None, ready_for_checkout=False),
        errors={**_CART_ERRORS, 404: "No cart, or the cart has no line for this variant."},
    ),
    "orders-set-shipping": OperationDoc(
        request={"address": ADDRESS, "method": "standard"},
        response=CART,
        errors={**_CART_ERRORS, 404: "No cart, or no shipping method with this code."},
    ),
    "orders-shipping-methods": OperationDoc(response=[METHOD]),
    "orders-checkout": OperationDoc(
        request={"expected_total_minor": 8554},
        response=ORDER,
        headers=("Location",),
        idempotency="required",
        errors={
            409: "Out of stock (`/problems/out-of-stock`), the cart is empty or not ready"
            " (address, method), a line is no longer for sale or the total changed"
            " (`/problems/cart-changed`), or this Idempotency-Key is still in flight.",
        },
    ),
    "orders-list-orders": OperationDoc(
        response={"items": [SUMMARY], "next": "/api/v1/orders?limit=1&cursor=eyJzIjoiLWNy"}
    ),
    "orders-get-order": OperationDoc(response=ORDER, errors={404: "No such order of yours."}),
    "orders-cancel-order": OperationDoc(
        response=dict(
            ORDER,
            status="canceled",
            reserved_until=None,
            payment={"status": "canceled", "intent_id": INTENT_ID, "confirm_url": None},
            version=2,
        ),
        errors={404: "No such order of yours.", 409: "The order is paid already (or canceled)."},
    ),
    "orders-administration-list-shipping-methods": OperationDoc(
        response=[METHOD, dict(METHOD, code="express", name="Express", active=False)]
    ),
    "orders-administration-create-shipping-method": OperationDoc(
        request={"code": "standard", "name": "Standard (3-5 days)", "prices": {"EUR": 490}},
        response=dict(METHOD, prices={"EUR": 490}),
        headers=("Location",),
        errors={409: "The code is taken (or a request with this Idempotency-Key is running)."},
    ),
    "orders-administration-update-shipping-method": OperationDoc(
        request={"name": "Standard", "prices": {"EUR": 590, "USD": 650}, "active": True},
        response=dict(METHOD, name="Standard", prices={"EUR": 590, "USD": 650}, version=2),
        errors={404: "No such shipping method."},
    ),
    "orders-administration-list-tax-rates": OperationDoc(
        response=[{"country": "DE", "rate_bp": 1900, "version": 1}]
    ),
    "orders-administration-set-tax-rate": OperationDoc(
        request={"rate_bp": 2000},
        response={"country": "FR", "rate_bp": 2000, "version": 1},
        errors={422: "Not an ISO 3166-1 country code, or a rate outside 0-10000."},
    ),
    "orders-administration-delete-tax-rate": OperationDoc(
        errors={422: "No tax rate is set for this country."}
    ),
}
