"""Product pages: one product with its options, variants (prices, availability) and
images in one statement (JSON aggregated in PostgreSQL, compiled once per shape), and
the documents it becomes: the public page, the editors' view (every variant, stock
counts), and one variant by SKU for a cart line.

Availability is a yes or no for the public; exact units only when the shop exposes stock
counts (`CATALOG_EXPOSE_STOCK_COUNTS`), and always for catalog editors.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, TextClause, bindparam, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncSession

from mercato.catalog.reads import encode
from mercato.platform.db.database import Database, DriverRow

_PAGE = """
SELECT p.id, p.slug, p.name, p.description, p.product_type, p.tags, p.category_id,
    c.slug AS category_slug, p.attributes, p.status, p.version, p.created_at, p.updated_at,
    p.in_stock, pp.from_minor,
    (SELECT coalesce(jsonb_agg(jsonb_build_object(
            'id', o.id, 'name', o.name, 'values', to_jsonb(o.values)) ORDER BY o.position),
        '[]'::jsonb)
     FROM catalog_option o WHERE o.product_id = p.id) AS options,
    (SELECT coalesce(jsonb_agg(jsonb_build_object(
            'id', v.id, 'sku', v.sku, 'option_values', to_jsonb(v.option_values),
            'barcode', v.barcode, 'weight_grams', v.weight_grams, 'length_mm', v.length_mm,
            'width_mm', v.width_mm, 'height_mm', v.height_mm, 'status', v.status,
            'position', v.position, 'version', v.version,
            'on_hand', coalesce(s.on_hand, 0), 'reserved', coalesce(s.reserved, 0),
            'prices', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                    'currency', pr.currency, 'amount_minor', pr.amount_minor,
                    'compare_at_minor', pr.compare_at_minor) ORDER BY pr.currency), '[]'::jsonb)
                FROM catalog_variant_price pr WHERE pr.variant_id = v.id))
            ORDER BY v.position, v.id), '[]'::jsonb)
     FROM catalog_variant v LEFT JOIN catalog_variant_stock s ON s.variant_id = v.id
     WHERE v.product_id = p.id AND v.deleted_at IS NULL {variants}) AS variants,
    (SELECT coalesce(jsonb_agg(jsonb_build_object(
            'id', i.id, 'url', i.url, 'alt', i.alt, 'position', i.position,
            'variant_id', i.variant_id, 'primary', i.is_primary) ORDER BY i.position, i.id),
        '[]'::jsonb)
     FROM catalog_image i WHERE i.product_id = p.id) AS images
FROM catalog_product p
LEFT JOIN catalog_category c ON c.id = p.category_id
LEFT JOIN catalog_product_price pp ON pp.product_id = p.id AND pp.currency = :currency
WHERE p.deleted_at IS NULL AND {key} {status}
"""


def page_statement(*, by_id: bool, public: bool) -> TextClause:
    """One product by `:product_id` or `:slug`; public: active products, their active
    variants."""
    sql = _PAGE.format(
        variants="AND v.status = 'active'" if public else "",
        key="p.id = :product_id" if by_id else "p.slug = :slug",
        status="AND p.status = 'active'" if public else "",
    )
    key = (
        bindparam("product_id", type_=UUID(as_uuid=True))
        if by_id
        else bindparam("slug", type_=String())
    )
    return text(sql).bindparams(key, bindparam("currency", type_=String()))


@dataclass(frozen=True, slots=True)
class PageView:
    """How a page is shown: prices in `currency`; stock as counts or yes/no."""

    currency: str
    show_counts: bool = False
    editor: bool = False


def _money(amount: int | None, currency: str) -> dict[str, Any] | None:
    return {"amount_minor": amount, "currency": currency} if amount is not None else None


def variant_document(
    variant: Mapping[str, Any], *, product_id: Any, option_names: list[str], view: PageView
) -> dict[str, Any]:
    values = list(variant["option_values"])
    price = next((p for p in variant["prices"] if p["currency"] == view.currency), None)
    available = int(variant["on_hand"]) - int(variant["reserved"])
    document: dict[str, Any] = {
        "id": variant["id"],
        "sku": variant["sku"],
        "title": " / ".join(values),
        "options": dict(zip(option_names, values, strict=False)),
        "price": _money(price["amount_minor"], view.currency) if price else None,
        "compare_at": _money(price["compare_at_minor"], view.currency) if price else None,
        "prices": variant["prices"],
        "available": available > 0 and variant["status"] == "active",
        "available_quantity": max(available, 0) if view.show_counts or view.editor else None,
        "stock": (
            {"on_hand": variant["on_hand"], "reserved": variant["reserved"], "available": available}
            if view.editor
            else None
        ),
        "barcode": variant["barcode"],
        "weight_grams": variant["weight_grams"],
        "dimensions": {
            "length_mm": variant["length_mm"],
            "width_mm": variant["width_mm"],
            "height_mm": variant["height_mm"],
        },
        "status": variant["status"],
        "position": variant["position"],
        "version": variant["version"],
        "links": {"self": f"/api/v1/products/{product_id}/variants/{variant['sku']}"},
    }
    return document


def product_page(row: Mapping[str, Any], view: PageView) -> dict[str, Any]:
    """A page row as its JSON document: the shape of `ProductOut` (a test holds them
    together)."""
    product_id = row["id"]
    category_slug = row["category_slug"]
    option_names = [option["name"] for option in row["options"]]
    return {
        "id": product_id,
        "slug": row["slug"],
        "name": row["name"],
        "description": row["description"],
        "type": row["product_type"],
        "tags": row["tags"],
        "price": _money(row["from_minor"], view.currency),
        "in_stock": row["in_stock"],
        "category": (
            {"id": row["category_id"], "slug": category_slug}
            if row["category_id"] is not None and category_slug is not None
            else None
        ),
        "attributes": row["attributes"],
        "status": row["status"],
        "options": row["options"],
        "variants": [
            variant_document(v, product_id=product_id, option_names=option_names, view=view)
            for v in row["variants"]
        ],
        "images": row["images"],
        "version": row["version"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "links": {
            "self": f"/api/v1/products/{product_id}",
            "category": f"/api/v1/categories/{category_slug}" if category_slug else None,
        },
    }


def sellable_variant_page(document: Mapping[str, Any], sku: str) -> dict[str, Any] | None:
    """The variant with `sku` (ignoring case) of a product page, with what a cart line
    shows of its product: its name and the variant's image (else the primary one)."""
    wanted = sku.casefold()
    variant = next((v for v in document["variants"] if v["sku"].casefold() == wanted), None)
    if variant is None:
        return None
    images = document["images"]
    image = next((i for i in images if i["variant_id"] == str(variant["id"])), None) or next(
        (i for i in images if i["primary"]), None
    )
    return {
        **variant,
        "product": {"id": document["id"], "slug": document["slug"], "name": document["name"]},
        "image": {"url": image["url"], "alt": image["alt"]} if image else None,
    }


async def public_product(
    database: Database,
    *,
    product_id: uuid.UUID | None,
    slug: str | None,
    view: PageView,
) -> dict[str, Any] | None:
    """A product the public may see, by id or slug; compiled once per shape (product
    pages are the second hottest read)."""
    by_id = product_id is not None
    query = database.queries.get(
        ("product-page", by_id), lambda: page_statement(by_id=by_id, public=True)
    )
    rows: list[DriverRow] = await database.read_rows(
        query, {"product_id": product_id, "slug": slug, "currency": view.currency}
    )
    return product_page(rows[0], view) if rows else None


async def product_page_document(
    database: Database, *, product_id: uuid.UUID | None, slug: str | None, view: PageView
) -> bytes | None:
    """A public product page, encoded; None if there is no such active product."""
    document = await public_product(database, product_id=product_id, slug=slug, view=view)
    return encode(document) if document is not None else None


async def editor_product(
    session: AsyncSession, product_id: uuid.UUID, *, currency: str
) -> dict[str, Any] | None:
    """Any live product (drafts and archived ones too) with every variant and its stock,
    read on the session given (the primary, for read-your-writes)."""
    result = await session.execute(
        page_statement(by_id=True, public=False),
        {"product_id": product_id, "currency": currency},
    )
    row = result.mappings().first()
    if row is None:
        return None
    return product_page(dict(row), PageView(currency=currency, editor=True))
