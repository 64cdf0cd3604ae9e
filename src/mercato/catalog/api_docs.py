"""The catalog's operations in the OpenAPI document: summaries, examples, domain errors.

Keyed by operationId; the rest (policy, statuses, headers) is derived from the routes by
`platform.http.openapi`. Examples are validated against their schemas by a test.
"""

from __future__ import annotations

from typing import Any

from mercato.platform.http.operation_docs import OperationDoc, OperationDocs

PRODUCT_ID = "0193a7c4-5e1f-7b2a-9c3d-4e5f6a7b8c9d"
CATEGORY_ID = "0193a7c4-5e1f-7000-8000-00000000c0de"

PRODUCT: dict[str, Any] = {
    "id": PRODUCT_ID,
    "sku": "KIT-0000001",
    "slug": "halden-copper-kettle",
    "name": "Halden copper kettle",
    "description": "A 1.5 l stovetop kettle in hammered copper.",
    "price": {"amount_minor": 3319, "currency": "EUR"},
    "category": {"id": CATEGORY_ID, "slug": "kitchen"},
    "attributes": {"brand": "Halden", "colour": "copper", "weight_g": 1250},
    "status": "active",
    "stock": {"available": 42, "in_stock": True},
    "version": 3,
    "created_at": "2026-11-27T09:30:00Z",
    "updated_at": "2026-11-29T14:05:12Z",
    "links": {"self": f"/api/v1/products/{PRODUCT_ID}", "category": "/api/v1/categories/kitchen"},
}
CATEGORY: dict[str, Any] = {
    "id": CATEGORY_ID,
    "slug": "kitchen",
    "name": "Kitchen",
    "parent": None,
    "position": 0,
    "version": 1,
    "children": [],
    "links": {
        "self": "/api/v1/categories/kitchen",
        "products": "/api/v1/products?category=kitchen",
    },
}
INVENTORY = {"product_id": PRODUCT_ID, "on_hand": 50, "reserved": 8, "available": 42}

OPERATIONS: OperationDocs = {
    "catalog-list-products": OperationDoc(
        response={
            "items": [PRODUCT],
            "next": "/api/v1/products?q=kettle&limit=1&cursor=eyJ2IjpbMC45LCIwMTkzIl19",
        },
        conditional=True,
        errors={
            401: "`status` other than `active` was asked for without a token.",
            403: "`status` other than `active` needs the `catalog:write` permission.",
        },
    ),
    "catalog-get-product": OperationDoc(
        response=PRODUCT,
        conditional=True,
        errors={404: "No active product has this id or slug."},
    ),
    "catalog-list-categories": OperationDoc(response=[CATEGORY], conditional=True),
    "catalog-get-category": OperationDoc(
        response=CATEGORY,
        conditional=True,
        errors={404: "No category has this slug."},
    ),
    "catalog-administration-create-product": OperationDoc(
        request={
            "sku": "KIT-0000001",
            "slug": "halden-copper-kettle",
            "name": "Halden copper kettle",
            "description": "A 1.5 l stovetop kettle in hammered copper.",
            "price_minor": 3319,
            "currency": "EUR",
            "category": "kitchen",
            "attributes": {"brand": "Halden", "colour": "copper", "weight_g": 1250},
            "status": "active",
            "on_hand": 50,
        },
        response=dict(PRODUCT, version=1, stock={"available": 50, "in_stock": True}),
        headers=("ETag", "Location"),
        errors={
            409: "The SKU or slug is taken (or a request with this Idempotency-Key is running).",
            422: "A field is invalid, or `category` names no category.",
        },
    ),
    "catalog-administration-admin-product": OperationDoc(
        response=PRODUCT, headers=("ETag",), errors={404: "No such product (or it is deleted)."}
    ),
    "catalog-administration-update-product": OperationDoc(
        summary="Change a product (archive it with `status: archived`)",
        request={"price_minor": 2990, "status": "active"},
        response=dict(PRODUCT, price={"amount_minor": 2990, "currency": "EUR"}, version=4),
        errors={409: "`version` is stale, or the new SKU or slug is taken."},
    ),
    "catalog-administration-delete-product": OperationDoc(
        summary="Delete a product (soft: its SKU and slug are free again)",
    ),
    "catalog-administration-set-inventory": OperationDoc(
        summary="Set the units on hand",
        request={"on_hand": 50},
        response=INVENTORY,
        errors={409: "Fewer units than are reserved."},
    ),
    "catalog-administration-adjust-inventory": OperationDoc(
        summary="Add or remove units atomically",
        request={"delta": -3},
        response=dict(INVENTORY, on_hand=47, available=39),
        errors={409: "The adjustment would go below what is reserved (or over the maximum)."},
    ),
    "catalog-administration-create-category": OperationDoc(
        request={"slug": "kitchen", "name": "Kitchen", "parent": None, "position": 0},
        response=CATEGORY,
        headers=("ETag", "Location"),
        errors={
            409: "The slug is taken (or a request with this Idempotency-Key is running).",
            422: "A field is invalid, or `parent` names no category.",
        },
    ),
    "catalog-administration-update-category": OperationDoc(
        summary="Rename, re-slug, reorder or move a category",
        request={"name": "Kitchen & dining", "position": 1},
        response=dict(CATEGORY, name="Kitchen & dining", position=1, version=2),
        errors={
            409: "`version` is stale, or the slug is taken.",
            422: "A field is invalid, or the move would put the category inside itself.",
        },
    ),
    "catalog-administration-delete-category": OperationDoc(
        summary="Delete an empty category (soft)",
        errors={409: "Live products or subcategories are still in it."},
    ),
}
