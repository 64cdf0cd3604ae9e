"""Public catalog routes: products (list, search, detail) and categories.

Reads are served as bytes: encoded once, cached with their ETag (see `cache.py`), answered
304 when the client holds the same bytes, and marked cacheable by browsers and CDNs.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response

from mercato.catalog.cache import CachedRead, CatalogCache, Compute
from mercato.catalog.errors import CategoryNotFound, ProductNotFound
from mercato.catalog.fast_path import alias_of, peek_of, public_cache_control
from mercato.catalog.models import Category
from mercato.catalog.repository import (
    PRODUCT_TIEBREAKER,
    CatalogRepository,
    ProductCriteria,
    live_product,
    product_page,
    product_sort_fields,
    tolerates_typos,
)
from mercato.catalog.schemas import (
    CategoryLinks,
    CategoryOut,
    CategoryRef,
    ProductListParams,
    ProductOut,
)
from mercato.identity.dependencies import principal_with
from mercato.platform.deps import DatabaseDep, SettingsDep
from mercato.platform.http.caching import cached_read, strong_etag
from mercato.platform.http.policy import PUBLIC, route_policy
from mercato.platform.listing import (
    AnyRow,
    Page,
    Sort,
    cursor_mode,
    link_header,
    next_page_url,
)
from mercato.platform.validation import SafeLine

router = APIRouter(prefix="/api/v1", tags=["catalog"])

WRITE_CATALOG = "catalog:write"
FUZZY = "fuzzy"
PUBLIC_READ = route_policy(auth=PUBLIC, rate_limit="catalog-read")


async def get_catalog_cache(request: Request) -> CatalogCache:
    cache: CatalogCache = request.app.state.catalog_cache
    return cache


CatalogCacheDep = Annotated[CatalogCache, Depends(get_catalog_cache)]


def product_document(row: Mapping[str, Any]) -> dict[str, Any]:
    """A product row as its JSON document: the shape of `ProductOut` (a test holds them
    together), built without models because lists build many of them."""
    product_id = row["id"]
    available = int(row["available"])
    category_slug = row["category_slug"]
    return {
        "id": product_id,
        "sku": row["sku"],
        "slug": row["slug"],
        "name": row["name"],
        "description": row["description"],
        "price": {"amount_minor": row["price_minor"], "currency": row["currency"]},
        "category": (
            {"id": row["category_id"], "slug": category_slug}
            if row["category_id"] is not None and category_slug is not None
            else None
        ),
        "attributes": row["attributes"],
        "status": row["status"],
        "stock": {"available": max(available, 0), "in_stock": available > 0},
        "version": row["version"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "links": {
            "self": f"/api/v1/products/{product_id}",
            "category": f"/api/v1/categories/{category_slug}" if category_slug else None,
        },
    }


def product_out(row: AnyRow) -> ProductOut:
    return ProductOut.model_validate(product_document(dict(row._mapping)))


def encode(document: Any) -> bytes:
    # Z for UTC, as pydantic writes it: the same instant reads the same everywhere. The
    # driver's own UUID type (asyncpg's) is written as its text form.
    return orjson.dumps(document, option=orjson.OPT_UTC_Z, default=str)


async def _public_read(
    request: Request, cache: CatalogCache, what: str, compute: Compute
) -> CachedRead:
    """A public read through the cache, remembered under this request line for the fast
    path, whose lookup (when it missed) decides who recomputes."""
    return await cache.fetch(
        what, compute, alias=alias_of(request.scope), peek=peek_of(request.scope)
    )


def _listing_plan(params: ProductListParams, *, fuzzy: bool) -> tuple[ProductCriteria, Sort]:
    criteria = ProductCriteria(
        q=params.q,
        category=params.category,
        min_price=params.min_price,
        max_price=params.max_price,
        currency=params.currency,
        in_stock=params.in_stock,
        status=params.status,
        fuzzy=fuzzy,
    )
    requested = params.sort or ("relevance" if params.q is not None else "-created_at")
    # "relevance" means best first whatever its sign.
    tokens = [
        "-relevance" if token.strip().lstrip("-+") == "relevance" else token
        for token in requested.split(",")
    ]
    sort = Sort.parse(
        ",".join(tokens),
        allowed=product_sort_fields(criteria),
        tiebreaker=PRODUCT_TIEBREAKER,
        mode=FUZZY if fuzzy else "",
    )
    return criteria, sort


def _canonical(params: ProductListParams) -> str:
    """The cache identity of a list request: its parameters, sorted, defaults dropped."""
    values = params.model_dump(exclude_none=True, exclude_defaults=True)
    return urlencode(sorted((key, str(value)) for key, value in values.items()))


@router.get(
    "/products",
    response_model=Page[ProductOut],
    openapi_extra=PUBLIC_READ,
    summary="Browse and search products",
)
async def list_products(
    params: Annotated[ProductListParams, Query()],
    request: Request,
    database: DatabaseDep,
    cache: CatalogCacheDep,
    settings: SettingsDep,
) -> Response:
    """Active products, filtered, sorted, in keyset pages (`status` other than `active`
    needs a catalog editor's bearer token and is never cached)."""
    # Pages after the first stay in the mode their cursor was handed out in.
    fuzzy = cursor_mode(params.cursor) == FUZZY
    criteria, sort = _listing_plan(params, fuzzy=fuzzy)
    if params.cursor is not None:
        sort.decode_cursor(params.cursor)  # a bad cursor is a 422 before any cache lookup
    # Full-text search first; only when it finds nothing at all, a typo-tolerant search.
    may_fall_back = (
        params.q is not None and params.cursor is None and not fuzzy and tolerates_typos(params.q)
    )

    async def compute() -> CachedRead:
        rows, cursor = await product_page(
            database, criteria, sort=sort, cursor=params.cursor, limit=params.limit
        )
        if not rows and may_fall_back:
            fuzzy_criteria, fuzzy_sort = _listing_plan(params, fuzzy=True)
            rows, cursor = await product_page(
                database, fuzzy_criteria, sort=fuzzy_sort, cursor=None, limit=params.limit
            )
        next_url = next_page_url(request.url, cursor)
        encoded = encode({"items": [product_document(row) for row in rows], "next": next_url})
        return CachedRead(body=encoded, etag=strong_etag(encoded), link=next_url)

    if params.status != "active":
        await principal_with(request, WRITE_CATALOG)
        read = await compute()
        cache_control = "private, no-store"
    else:
        read = await _public_read(request, cache, f"products?{_canonical(params)}", compute)
        cache_control = public_cache_control(settings)
    headers = link_header(read.link)
    return cached_read(
        request, body=read.body, etag=read.etag, cache_control=cache_control, headers=headers
    )


@router.get(
    "/products/{id_or_slug}",
    response_model=ProductOut,
    openapi_extra=PUBLIC_READ,
    summary="One active product, by id or slug",
)
async def get_product(
    id_or_slug: SafeLine,
    request: Request,
    database: DatabaseDep,
    cache: CatalogCacheDep,
    settings: SettingsDep,
) -> Response:
    try:
        product_id: uuid.UUID | None = uuid.UUID(id_or_slug)
    except ValueError:
        product_id = None
    if len(id_or_slug) > 160:
        raise ProductNotFound()

    async def compute() -> CachedRead:
        row = await live_product(
            database, product_id=product_id, slug=None if product_id else id_or_slug
        )
        if row is None:
            raise ProductNotFound()
        encoded = encode(product_document(row))
        return CachedRead(body=encoded, etag=strong_etag(encoded))

    read = await _public_read(request, cache, f"product:{id_or_slug}", compute)
    return cached_read(
        request, body=read.body, etag=read.etag, cache_control=public_cache_control(settings)
    )


def category_tree(categories: list[Category]) -> list[CategoryOut]:
    """Nest a flat list (ordered by path) into trees; siblings by position, then name."""
    by_id: dict[uuid.UUID, CategoryOut] = {}
    roots: list[CategoryOut] = []
    for category in categories:
        parent = by_id.get(category.parent_id) if category.parent_id else None
        node = CategoryOut(
            id=category.id,
            slug=category.slug,
            name=category.name,
            parent=CategoryRef(id=parent.id, slug=parent.slug) if parent else None,
            position=category.position,
            version=category.version,
            children=[],
            links=CategoryLinks(
                self=f"/api/v1/categories/{category.slug}",
                products=f"/api/v1/products?category={category.slug}",
            ),
        )
        by_id[category.id] = node
        (parent.children if parent else roots).append(node)
    for node in [*roots, *by_id.values()]:
        node.children.sort(key=lambda child: (child.position, child.name))
    roots.sort(key=lambda root: (root.position, root.name))
    return roots


async def _tree(database: DatabaseDep) -> list[CategoryOut]:
    async with database.read_session() as session:
        return category_tree(await CatalogRepository(session).live_categories())


@router.get(
    "/categories",
    response_model=list[CategoryOut],
    openapi_extra=PUBLIC_READ,
    summary="The category tree",
)
async def list_categories(
    request: Request, database: DatabaseDep, cache: CatalogCacheDep, settings: SettingsDep
) -> Response:
    async def compute() -> CachedRead:
        trees = await _tree(database)
        encoded = b"[" + b",".join(tree.model_dump_json().encode() for tree in trees) + b"]"
        return CachedRead(body=encoded, etag=strong_etag(encoded))

    read = await _public_read(request, cache, "categories", compute)
    return cached_read(
        request, body=read.body, etag=read.etag, cache_control=public_cache_control(settings)
    )


@router.get(
    "/categories/{slug}",
    response_model=CategoryOut,
    openapi_extra=PUBLIC_READ,
    summary="One category with its subtree",
)
async def get_category(
    slug: SafeLine,
    request: Request,
    database: DatabaseDep,
    cache: CatalogCacheDep,
    settings: SettingsDep,
) -> Response:
    async def compute() -> CachedRead:
        pending = list(await _tree(database))
        while pending:
            node = pending.pop()
            if node.slug == slug:
                encoded = node.model_dump_json().encode()
                return CachedRead(body=encoded, etag=strong_etag(encoded))
            pending.extend(node.children)
        raise CategoryNotFound()

    if len(slug) > 120:
        raise CategoryNotFound()
    read = await _public_read(request, cache, f"category:{slug}", compute)
    return cached_read(
        request, body=read.body, etag=read.etag, cache_control=public_cache_control(settings)
    )
