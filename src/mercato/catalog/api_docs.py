"""The catalog's operations in the OpenAPI document: summaries, examples, domain errors.

Keyed by operationId; the rest (policy, statuses, headers) is derived from the routes by
`platform.http.openapi`. Examples are validated against their schemas by a test.
"""

from __future__ import annotations

from typing import Any

from mercato.platform.http.operation_docs import OperationDoc, OperationDocs

PRODUCT_ID = "0193a7c4-5e1f-7b2a-9c3d-4e5f6a7b8c9d"
CATEGORY_ID = "0193a7c4-5e1f-7000-8000-00000000c0de"
VARIANT_ID = "0193a7c4-5e1f-7b2a-9c3d-00000000000a"
OPTION_ID = "0193a7c4-5e1f-7b2a-9c3d-0000000000f1"
IMAGE_ID = "0193a7c4-5e1f-7b2a-9c3d-0000000000e1"

LINKS = {"self": f"/api/v1/products/{PRODUCT_ID}", "category": "/api/v1/categories/kitchen"}
PRICES = [
    {"currency": "EUR", "amount_minor": 3319, "compare_at_minor": 3990},
    {"currency": "USD", "amount_minor": 3590, "compare_at_minor": None},
]
VARIANT: dict[str, Any] = {
    "id": VARIANT_ID,
    "sku": "KIT-0000001-15",
    "title": "1.5 l / Copper",
    "options": {"Size": "1.5 l", "Finish": "Copper"},
    "price": {"amount_minor": 3319, "currency": "EUR"},
    "compare_at": {"amount_minor": 3990, "currency": "EUR"},
    "prices": PRICES,
    "available": True,
    "available_quantity": None,
    "stock": None,
    "barcode": "4006381333931",
    "weight_grams": 1250,
    "dimensions": {"length_mm": 240, "width_mm": 180, "height_mm": 220},
    "status": "active",
    "position": 0,
    "version": 2,
    "links": {"self": f"/api/v1/products/{PRODUCT_ID}/variants/KIT-0000001-15"},
}
EDITOR_VARIANT = dict(
    VARIANT, available_quantity=42, stock={"on_hand": 50, "reserved": 8, "available": 42}
)
IMAGE = {
    "id": IMAGE_ID,
    "url": "https://media.example.com/kettle.jpg",
    "alt": "Halden copper kettle on a stove",
    "position": 0,
    "variant_id": None,
    "primary": True,
}
PRODUCT: dict[str, Any] = {
    "id": PRODUCT_ID,
    "slug": "halden-copper-kettle",
    "name": "Halden copper kettle",
    "description": "A stovetop kettle in hammered copper.",
    "type": "Kettle",
    "tags": ["copper", "stovetop"],
    "price": {"amount_minor": 3319, "currency": "EUR"},
    "in_stock": True,
    "category": {"id": CATEGORY_ID, "slug": "kitchen"},
    "attributes": {"brand": "Halden"},
    "status": "active",
    "options": [
        {"id": OPTION_ID, "name": "Size", "values": ["1.5 l", "2 l"]},
        {"id": OPTION_ID[:-2] + "f2", "name": "Finish", "values": ["Copper"]},
    ],
    "variants": [VARIANT],
    "images": [IMAGE],
    "version": 3,
    "created_at": "2026-11-27T09:30:00Z",
    "updated_at": "2026-11-29T14:05:12Z",
    "links": LINKS,
}
EDITOR_PRODUCT = dict(PRODUCT, variants=[EDITOR_VARIANT])
CARD: dict[str, Any] = {
    "id": PRODUCT_ID,
    "slug": "halden-copper-kettle",
    "name": "Halden copper kettle",
    "type": "Kettle",
    "tags": ["copper", "stovetop"],
    "price": {"amount_minor": 3319, "currency": "EUR"},
    "primary_image": {"url": IMAGE["url"], "alt": IMAGE["alt"]},
    "in_stock": True,
    "category": {"id": CATEGORY_ID, "slug": "kitchen"},
    "status": "active",
    "created_at": "2026-11-27T09:30:00Z",
    "links": LINKS,
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
VARIANT_STOCK = {"variant_id": VARIANT_ID, "on_hand": 50, "reserved": 8, "available": 42}
NEW_VARIANT = {
    "sku": "KIT-0000001-20",
    "options": {"Size": "2 l", "Finish": "Copper"},
    "prices": [{"currency": "EUR", "amount_minor": 3990}],
    "on_hand": 20,
    "weight_grams": 1500,
}
VERSIONED = "`version` is stale (or If-Match does not match: 412)."

OPERATIONS: OperationDocs = {
    "catalog-list-products": OperationDoc(
        response={
            "items": [CARD],
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
    "catalog-get-variant": OperationDoc(
        response=dict(
            VARIANT,
            product={
                "id": PRODUCT_ID,
                "slug": "halden-copper-kettle",
                "name": "Halden copper kettle",
            },
            image={"url": IMAGE["url"], "alt": IMAGE["alt"]},
        ),
        conditional=True,
        errors={404: "No active product has this id or slug, or no active variant this SKU."},
    ),
    "catalog-list-categories": OperationDoc(response=[CATEGORY], conditional=True),
    "catalog-get-category": OperationDoc(
        response=CATEGORY,
        conditional=True,
        errors={404: "No category has this slug."},
    ),
    "catalog-administration-create-product": OperationDoc(
        request={
            "slug": "halden-copper-kettle",
            "name": "Halden copper kettle",
            "description": "A stovetop kettle in hammered copper.",
            "category": "kitchen",
            "type": "Kettle",
            "tags": ["Copper", "stovetop"],
            "attributes": {"brand": "Halden"},
            "status": "active",
            "options": [
                {"name": "Size", "values": ["1.5 l", "2 l"]},
                {"name": "Finish", "values": ["Copper"]},
            ],
            "variants": [
                {
                    "sku": "KIT-0000001-15",
                    "options": {"Size": "1.5 l", "Finish": "Copper"},
                    "prices": [
                        {"currency": "EUR", "amount_minor": 3319, "compare_at_minor": 3990},
                        {"currency": "USD", "amount_minor": 3590},
                    ],
                    "on_hand": 50,
                    "barcode": "4006381333931",
                    "weight_grams": 1250,
                    "dimensions": {"length_mm": 240, "width_mm": 180, "height_mm": 220},
                }
            ],
            "images": [{"url": IMAGE["url"], "alt": IMAGE["alt"]}],
        },
        response=dict(EDITOR_PRODUCT, version=1),
        headers=("ETag", "Location"),
        errors={
            409: "The slug or a SKU is taken (or a request with this Idempotency-Key is running).",
            422: "A field is invalid; `category` names no category; option values do not fit"
            " the options; a SKU or combination repeats; an image URL is not https.",
        },
    ),
    "catalog-administration-admin-product": OperationDoc(
        response=EDITOR_PRODUCT,
        headers=("ETag",),
        errors={404: "No such product (or it is deleted)."},
    ),
    "catalog-administration-update-product": OperationDoc(
        summary="Change a product (archive it with `status: archived`)",
        request={"name": "Halden kettle", "tags": ["copper"], "version": 3},
        response=dict(EDITOR_PRODUCT, name="Halden kettle", tags=["copper"], version=4),
        errors={409: "`version` is stale, or the new slug or SKU is taken."},
    ),
    "catalog-administration-delete-product": OperationDoc(
        summary="Delete a product (soft: its slug and SKUs are free again)",
    ),
    "catalog-administration-add-variant": OperationDoc(
        request=NEW_VARIANT,
        response=dict(
            EDITOR_VARIANT,
            sku="KIT-0000001-20",
            title="2 l / Copper",
            options={"Size": "2 l", "Finish": "Copper"},
            version=1,
        ),
        headers=("ETag", "Location"),
        errors={
            409: "A live variant has the SKU, or the product one with these option values.",
            422: "The option values do not fit the product's options.",
        },
    ),
    "catalog-administration-update-variant": OperationDoc(
        summary="Change a variant",
        request={"barcode": "4006381333931", "status": "archived", "version": 2},
        response=dict(EDITOR_VARIANT, status="archived", available=False, version=3),
        headers=("ETag",),
        errors={409: f"{VERSIONED} Or the SKU or combination is taken."},
    ),
    "catalog-administration-delete-variant": OperationDoc(
        summary="Delete a variant (soft: its SKU is free again)", errors={409: VERSIONED}
    ),
    "catalog-administration-set-price": OperationDoc(
        summary="Set a variant's price in a currency",
        request={"amount_minor": 2990, "compare_at_minor": 3990, "version": 2},
        response=dict(EDITOR_VARIANT, version=3),
        headers=("ETag",),
        errors={409: VERSIONED},
    ),
    "catalog-administration-delete-price": OperationDoc(
        summary="Remove a variant's price in a currency",
        errors={409: VERSIONED, 404: "No such variant, or no price in this currency."},
    ),
    "catalog-administration-set-variant-stock": OperationDoc(
        summary="Set a variant's units on hand",
        request={"on_hand": 50},
        response=VARIANT_STOCK,
        errors={409: "Fewer units than are reserved."},
    ),
    "catalog-administration-adjust-variant-stock": OperationDoc(
        summary="Add or remove a variant's units atomically",
        request={"delta": -3},
        response=dict(VARIANT_STOCK, on_hand=47, available=39),
        errors={409: "The adjustment would go below what is reserved (or over the maximum)."},
    ),
    "catalog-administration-set-inventory": OperationDoc(
        summary="Set the units on hand of a product with one variant",
        request={"on_hand": 50},
        response=INVENTORY,
        errors={
            409: "Fewer units than are reserved.",
            422: "The product has several variants: set each variant's stock.",
        },
    ),
    "catalog-administration-adjust-inventory": OperationDoc(
        summary="Add or remove units of a product with one variant atomically",
        request={"delta": -3},
        response=dict(INVENTORY, on_hand=47, available=39),
        errors={
            409: "The adjustment would go below what is reserved (or over the maximum).",
            422: "The product has several variants: adjust each variant's stock.",
        },
    ),
    "catalog-administration-add-option": OperationDoc(
        request={
            "name": "Lid",
            "values": ["Steel", "Wood"],
            "existing_value": "Steel",
            "version": 3,
        },
        response=dict(EDITOR_PRODUCT, version=4),
        headers=("ETag",),
        errors={
            409: f"{VERSIONED} Or the product has three options, or one with this name.",
            422: "`existing_value` is not one of the values.",
        },
    ),
    "catalog-administration-update-option": OperationDoc(
        summary="Rename an option, re-order or add its values",
        request={"values": ["1.5 l", "2 l", "3 l"], "version": 3},
        response=dict(EDITOR_PRODUCT, version=4),
        headers=("ETag",),
        errors={409: f"{VERSIONED} Or a value a live variant uses would go."},
    ),
    "catalog-administration-delete-option": OperationDoc(
        summary="Delete an option (the variants lose its value)",
        errors={409: f"{VERSIONED} Or two live variants would become the same."},
    ),
    "catalog-administration-add-image": OperationDoc(
        request={"url": "https://media.example.com/kettle-side.jpg", "alt": "Side view"},
        response=dict(EDITOR_PRODUCT, version=4),
        headers=("ETag",),
        errors={422: "The URL is not https (nor under the configured media base)."},
    ),
    "catalog-administration-update-image": OperationDoc(
        summary="Change an image (alt text, position, primary, variant)",
        request={"primary": True, "version": 3},
        response=dict(EDITOR_PRODUCT, version=4),
        headers=("ETag",),
        errors={409: VERSIONED},
    ),
    "catalog-administration-delete-image": OperationDoc(
        summary="Delete an image (the next one becomes primary)", errors={409: VERSIONED}
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
