"""Public catalog routes: products (list, search, detail) and categories.

Reads are served as bytes: encoded once, cached with their ETag (see `cache.py`), answered
304 when the client holds the same bytes, and marked cacheable by browsers and CDNs. What
a read means lives in `reads.py`; a route keeps the policy, the cache and the response.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from starlette.datastructures import URL

from mercato.catalog.aliases import alias_of, peek_of
from mercato.catalog.auth import PUBLIC_READ, CatalogDep, EditorOnDemand
from mercato.catalog.cache import CachedRead, CatalogCache, Compute
from mercato.catalog.errors import CategoryNotFound, ProductNotFound, VariantNotFound
from mercato.catalog.models import Category
from mercato.catalog.product_pages import (
    PageView,
    product_page_document,
    public_product,
    sellable_variant_page,
)
from mercato.catalog.reads import ProductList, encode
from mercato.catalog.repository import CatalogReads
from mercato.catalog.schemas import (
    CategoryLinks,
    CategoryOut,
    CategoryRef,
    ProductCard,
    ProductListParams,
    ProductOut,
    ProductPageParams,
    SellableVariantOut,
)
from mercato.catalog.services import CatalogServices
from mercato.platform.db.database import Database
from mercato.platform.deps import DatabaseDep
from mercato.platform.http.caching import cached_read, strong_etag
from mercato.platform.listing import Page, link_header
from mercato.platform.validation import SafeLine

router = APIRouter(prefix="/api/v1", tags=["catalog"])


async def _public_read(
    request: Request, cache: CatalogCache, what: str, compute: Compute
) -> CachedRead:
    """A public read through the cache, remembered under this request line for the fast
    path, whose lookup (when it missed) decides who recomputes."""
    return await cache.fetch(
        what, compute, alias=alias_of(request.scope), peek=peek_of(request.scope)
    )


@router.get(
    "/products",
    response_model=Page[ProductCard],
    summary="Browse and search products",
)
async def list_products(
    params: Annotated[ProductListParams, Query()],
    request: Request,
    editor: EditorOnDemand,
    database: DatabaseDep,
    catalog: CatalogDep,
) -> Response:
    """Active products, filtered, sorted, in keyset pages (`status` other than `active`
    needs a catalog editor's bearer token and is never cached)."""
    listing = ProductList.plan(params, default_currency=catalog.settings.default_currency)
    compute = list_compute(listing, database, url=request.url)
    if params.status != "active":
        await editor.require()
        read = await compute()
        cache_control = "private, no-store"
    else:
        read = await _public_read(request, catalog.cache, listing.cache_key, compute)
        cache_control = catalog.public_cache_control
    return cached_read(
        request,
        body=read.body,
        etag=read.etag,
        cache_control=cache_control,
        headers=link_header(read.link),
    )


def list_compute(listing: ProductList, database: Database, *, url: URL) -> Compute:
    """How a list's page is computed on a miss (here and on the fast path's)."""

    async def compute() -> CachedRead:
        page = await listing.read(database, url=url)
        return CachedRead(body=page.body, etag=strong_etag(page.body), link=page.next_url)

    return compute


def page_compute(
    database: Database, *, product_id: uuid.UUID | None, slug: str | None, view: PageView
) -> Compute:
    """How a product page is computed on a miss (here and on the fast path's)."""

    async def compute() -> CachedRead:
        encoded = await product_page_document(database, product_id=product_id, slug=slug, view=view)
        if encoded is None:
            raise ProductNotFound()
        return CachedRead(body=encoded, etag=strong_etag(encoded))

    return compute


def page_cache_key(id_or_slug: str, view: PageView) -> str:
    return f"product:{id_or_slug}:{view.currency}"


def product_key(id_or_slug: str) -> tuple[uuid.UUID | None, str | None]:
    """An id, or else a slug; 404 for what can be neither."""
    if len(id_or_slug) > 160:
        raise ProductNotFound()
    try:
        return uuid.UUID(id_or_slug), None
    except ValueError:
        return None, id_or_slug


def page_view(catalog: CatalogServices, params: ProductPageParams) -> PageView:
    return PageView(
        currency=params.currency or catalog.settings.default_currency,
        show_counts=catalog.settings.expose_stock_counts,
    )


@router.get(
    "/products/{id_or_slug}",
    response_model=ProductOut,
    summary="One active product with its options, variants and images, by id or slug",
    dependencies=[PUBLIC_READ],
)
async def get_product(
    id_or_slug: SafeLine,
    params: Annotated[ProductPageParams, Query()],
    request: Request,
    database: DatabaseDep,
    catalog: CatalogDep,
) -> Response:
    product_id, slug = product_key(id_or_slug)
    view = page_view(catalog, params)
    compute = page_compute(database, product_id=product_id, slug=slug, view=view)
    read = await _public_read(request, catalog.cache, page_cache_key(id_or_slug, view), compute)
    return cached_read(
        request, body=read.body, etag=read.etag, cache_control=catalog.public_cache_control
    )


@router.get(
    "/products/{id_or_slug}/variants/{sku}",
    response_model=SellableVariantOut,
    summary="One variant of an active product, by SKU: what a cart line needs",
    dependencies=[PUBLIC_READ],
)
async def get_variant(
    *,
    id_or_slug: SafeLine,
    sku: Annotated[SafeLine, Path(max_length=64)],
    params: Annotated[ProductPageParams, Query()],
    request: Request,
    database: DatabaseDep,
    catalog: CatalogDep,
) -> Response:
    product_id, slug = product_key(id_or_slug)
    view = page_view(catalog, params)

    async def compute() -> CachedRead:
        document = await public_product(database, product_id=product_id, slug=slug, view=view)
        if document is None:
            raise ProductNotFound()
        variant = sellable_variant_page(document, sku)
        if variant is None:
            raise VariantNotFound()
        encoded = encode(variant)
        return CachedRead(body=encoded, etag=strong_etag(encoded))

    what = f"variant:{id_or_slug}:{sku.casefold()}:{view.currency}"
    read = await _public_read(request, catalog.cache, what, compute)
    return cached_read(
        request, body=read.body, etag=read.etag, cache_control=catalog.public_cache_control
    )


def category_out(category: Category, parent: CategoryOut | Category | None) -> CategoryOut:
    return CategoryOut(
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


def category_tree(categories: list[Category]) -> list[CategoryOut]:
    """Nest a flat list (ordered by path) into trees; siblings by position, then name."""
    by_id: dict[uuid.UUID, CategoryOut] = {}
    roots: list[CategoryOut] = []
    for category in categories:
        parent = by_id.get(category.parent_id) if category.parent_id else None
        node = category_out(category, parent)
        by_id[category.id] = node
        (parent.children if parent else roots).append(node)
    for node in [*roots, *by_id.values()]:
        node.children.sort(key=lambda child: (child.position, child.name))
    roots.sort(key=lambda root: (root.position, root.name))
    return roots


async def _tree(database: DatabaseDep) -> list[CategoryOut]:
    async with database.read_session() as session:
        return category_tree(await CatalogReads(session).live_categories())


@router.get(
    "/categories",
    response_model=list[CategoryOut],
    summary="The category tree",
    dependencies=[PUBLIC_READ],
)
async def list_categories(request: Request, database: DatabaseDep, catalog: CatalogDep) -> Response:
    async def compute() -> CachedRead:
        trees = await _tree(database)
        encoded = b"[" + b",".join(tree.model_dump_json().encode() for tree in trees) + b"]"
        return CachedRead(body=encoded, etag=strong_etag(encoded))

    read = await _public_read(request, catalog.cache, "categories", compute)
    return cached_read(
        request, body=read.body, etag=read.etag, cache_control=catalog.public_cache_control
    )


@router.get(
    "/categories/{slug}",
    response_model=CategoryOut,
    summary="One category with its subtree",
    dependencies=[PUBLIC_READ],
)
async def get_category(
    slug: SafeLine, request: Request, database: DatabaseDep, catalog: CatalogDep
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
    read = await _public_read(request, catalog.cache, f"category:{slug}", compute)
    return cached_read(
        request, body=read.body, etag=read.etag, cache_control=catalog.public_cache_control
    )
