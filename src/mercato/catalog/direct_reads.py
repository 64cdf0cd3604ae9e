"""Misses of the two hottest public reads, computed without FastAPI's routing and
dependency solving (`fast_path.py` calls this when its cache lookup missed).

The public list without search (`GET /api/v1/products`) and a product page
(`GET /api/v1/products/{id_or_slug}`) are planned here from the raw request line with
the routes' own parameter models and computed by the routes' own functions (`api.py`),
so the answer, its cache entry and its headers are the route's. Only request lines that
are plainly valid are taken: a repeated or empty parameter, anything the models refuse,
a search, a status other than `active` (editors only) go down to the route, which
answers them (and their problem+json) as always. Profiled in-process, the dependency
solver, the validation of the route's signature and the routing were most of a miss's
Python time beside the statement itself (docs/benchmarks.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.datastructures import URL
from starlette.types import Scope

from mercato.catalog.api import (
    get_product,
    list_compute,
    list_products,
    page_cache_key,
    page_compute,
    page_view,
    product_key,
)
from mercato.catalog.cache import Compute
from mercato.catalog.reads import ProductList
from mercato.catalog.schemas import SLUG_PATTERN, ProductListParams, ProductPageParams
from mercato.catalog.services import CatalogServices
from mercato.platform.db.database import Database
from mercato.platform.errors import ApplicationError

_SLUG = re.compile(SLUG_PATTERN)
_MAX_KEY = 160  # the longest slug; longer keys are the route's 404
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@dataclass(frozen=True, slots=True)
class DirectRead:
    """A read the fast path computes itself: its canonical cache key and how."""

    cache_key: str
    compute: Compute


def direct_read(
    route: APIRoute,
    path_params: Mapping[str, str],
    scope: Scope,
    *,
    database: Database,
    catalog: CatalogServices,
) -> DirectRead | None:
    """The read of this request line when it is one taken here (see the module
    docstring), else None: the route answers it."""
    query = _unique_parameters(scope)
    if query is None:
        return None
    if route.endpoint is list_products:
        return _list(query, scope, database=database, catalog=catalog)
    if route.endpoint is get_product:
        return _page(path_params["id_or_slug"], query, database=database, catalog=catalog)
    return None


def _unique_parameters(scope: Scope) -> dict[str, str] | None:
    """The query parameters as Starlette parses them, when none is repeated or empty
    (those the route's own extraction decides)."""
    pairs = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
    parameters = dict(pairs)
    if len(parameters) != len(pairs) or "" in parameters.values():
        return None
    return parameters


def _list(
    query: dict[str, str], scope: Scope, *, database: Database, catalog: CatalogServices
) -> DirectRead | None:
    if "q" in query:  # search (and its typo fallback) stays with the route
        return None
    try:
        params = ProductListParams.model_validate(query)
        if params.status != "active":
            return None
        listing = ProductList.plan(params, default_currency=catalog.settings.default_currency)
    except (ValidationError, ApplicationError):
        return None  # the route answers the problem+json
    return DirectRead(listing.cache_key, list_compute(listing, database, url=URL(scope=scope)))


def _page(
    id_or_slug: str, query: dict[str, str], *, database: Database, catalog: CatalogServices
) -> DirectRead | None:
    if len(id_or_slug) > _MAX_KEY or not (
        _UUID.fullmatch(id_or_slug) or _SLUG.fullmatch(id_or_slug)
    ):
        return None
    if query.keys() - {"currency"}:
        return None
    try:
        params = ProductPageParams.model_validate(query)
    except ValidationError:
        return None
    product_id, slug = product_key(id_or_slug)
    view = page_view(catalog, params)
    return DirectRead(
        page_cache_key(id_or_slug, view),
        page_compute(database, product_id=product_id, slug=slug, view=view),
    )
