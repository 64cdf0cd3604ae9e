"""The public product list and product pages: what a read asks, the one statement that
answers it (compiled once per shape), and the JSON documents it becomes.

Every read the public API makes is one statement: the product list joins stock and the
category slug in (no N+1: relationships are not used at all), and the category filter is a
subquery over the materialised paths. Search is full-text first (`websearch_to_tsquery`,
ranked); only when plain words match nothing at all does a typo-tolerant search of the
names (`word_similarity`, pg_trgm) take over, and the cursor remembers which mode a list
is in.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import orjson
from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    String,
    bindparam,
    func,
    literal_column,
    outerjoin,
    select,
    true,
)
from sqlalchemy.orm import aliased
from starlette.datastructures import URL

from mercato.catalog.models import Category, Product, Variant, VariantPrice, VariantStock
from mercato.catalog.schemas import ProductListParams
from mercato.platform.db.database import Database, DriverRow
from mercato.platform.listing import (
    AnySelect,
    Sort,
    SortField,
    cursor_mode,
    cut_page,
    keyset_statement,
    keyset_values,
    next_page_url,
    parse_datetime,
    parse_int,
    parse_real,
    parse_str,
    parse_uuid,
)

FUZZY = "fuzzy"

PRODUCT_TIEBREAKER = SortField(Product.id, parse_uuid)
# A product's columns, its available units and its category's slug.
ProductView = AnySelect
_SIMPLE: ColumnElement[Any] = literal_column("'simple'::regconfig")
# The search text, bound by name: `ProductCriteria.values`.
_Q = bindparam("q", type_=String())


@dataclass(frozen=True, slots=True)
class ProductCriteria:
    q: str | None = None
    category: str | None = None
    min_price: int | None = None
    max_price: int | None = None
    currency: str | None = None
    in_stock: bool | None = None
    status: str = "active"
    # Typo-tolerant matching of the name, used when full-text search finds nothing.
    fuzzy: bool = False

    @property
    def shape(self) -> tuple[object, ...]:
        """What decides the statement's text (not its values): which filters are set."""
        return (
            self.q is not None,
            self.fuzzy,
            self.category is not None,
            self.currency is not None,
            self.min_price is not None,
            self.max_price is not None,
            self.in_stock,
        )

    @property
    def values(self) -> dict[str, Any]:
        """The statement's parameters, by the names `product_listing` binds."""
        return {
            "q": self.q,
            "category": self.category,
            "currency": self.currency,
            "min_price": self.min_price,
            "max_price": self.max_price,
            "status": self.status,
        }


# The product's first live variant (by position) and its first price, by currency code.
_DEFAULT_VARIANT = (
    select(Variant.id, Variant.sku)
    .where(Variant.product_id == Product.id, Variant.deleted_at.is_(None))
    .order_by(Variant.position, Variant.id)
    .limit(1)
    .correlate(Product)
    .lateral("default_variant")
)
_DEFAULT_PRICE = (
    select(VariantPrice.amount_minor, VariantPrice.currency)
    .where(VariantPrice.variant_id == _DEFAULT_VARIANT.c.id)
    .order_by(VariantPrice.currency)
    .limit(1)
    .correlate(_DEFAULT_VARIANT)
    .lateral("default_price")
)


def available_units() -> ColumnElement[int]:
    return func.coalesce(VariantStock.on_hand, 0) - func.coalesce(VariantStock.reserved, 0)


def tolerates_typos(q: str) -> bool:
    """Plain words get the fuzzy fallback for typos; a query using websearch operators
    ("phrase", -exclude, or) asked for precision and gets full-text matching only."""
    words = q.lower().split()
    return '"' not in q and "or" not in words and not any(w.startswith("-") for w in words)


def relevance(criteria: ProductCriteria) -> ColumnElement[float]:
    """Full-text rank; in fuzzy mode, how well `q` matches a stretch of the name."""
    assert criteria.q is not None
    if criteria.fuzzy:
        similarity: ColumnElement[float] = func.word_similarity(_Q, Product.name)
        return similarity
    rank: ColumnElement[float] = func.ts_rank(
        Product.search, func.websearch_to_tsquery(_SIMPLE, _Q)
    )
    return rank


def product_sort_fields(criteria: ProductCriteria) -> dict[str, SortField]:
    fields = {
        "created_at": SortField(Product.created_at, parse_datetime),
        "price": SortField(_DEFAULT_PRICE.c.amount_minor, parse_int),
        "name": SortField(Product.name, parse_str),
    }
    if criteria.q is not None:
        fields["relevance"] = SortField(relevance(criteria), parse_real)
    return fields


@functools.cache
def product_view() -> ProductView:
    """A product's columns (not its tsvector), available units and category slug: plain
    rows, no ORM entities (a list page builds no objects it does not need). Built once:
    statements are immutable, each `.where()` makes a new one."""
    return select(
        Product.id,
        _DEFAULT_VARIANT.c.sku,
        Product.slug,
        Product.name,
        Product.description,
        _DEFAULT_PRICE.c.amount_minor.label("price_minor"),
        _DEFAULT_PRICE.c.currency,
        Product.category_id,
        Product.attributes,
        Product.status,
        Product.version,
        Product.created_at,
        Product.updated_at,
        available_units().label("available"),
        Category.slug.label("category_slug"),
    ).select_from(
        outerjoin(Product, _DEFAULT_VARIANT, true())
        .outerjoin(_DEFAULT_PRICE, true())
        .outerjoin(VariantStock, VariantStock.variant_id == _DEFAULT_VARIANT.c.id)
        .outerjoin(Category, Category.id == Product.category_id)
    )


def product_listing(criteria: ProductCriteria) -> ProductView:
    """The products `criteria` selects, its values as parameters (`ProductCriteria.values`):
    one statement per shape of criteria, whatever the values."""
    query = product_view().where(
        Product.deleted_at.is_(None), Product.status == bindparam("status", type_=String())
    )
    if criteria.q is not None:
        if criteria.fuzzy:
            # `q <% name`: q is close to some stretch of the name (pg_trgm, GIN index).
            query = query.where(_Q.op("<%", return_type=Boolean)(Product.name))
        else:
            query = query.where(Product.search.op("@@")(func.websearch_to_tsquery(_SIMPLE, _Q)))
    if criteria.category is not None:
        root, node = aliased(Category), aliased(Category)
        root_path = (
            select(root.path)
            .where(root.slug == bindparam("category", type_=String()), root.deleted_at.is_(None))
            .scalar_subquery()
        )
        subtree = select(node.id).where(
            # `||` (not concat()): an unknown slug gives NULL, which matches nothing.
            node.deleted_at.is_(None),
            node.path.like(root_path + "%"),
        )
        query = query.where(Product.category_id.in_(subtree))
    if criteria.currency is not None:
        query = query.where(_DEFAULT_PRICE.c.currency == bindparam("currency", type_=String()))
    if criteria.min_price is not None:
        query = query.where(
            _DEFAULT_PRICE.c.amount_minor >= bindparam("min_price", type_=BigInteger())
        )
    if criteria.max_price is not None:
        query = query.where(
            _DEFAULT_PRICE.c.amount_minor <= bindparam("max_price", type_=BigInteger())
        )
    if criteria.in_stock is not None:
        query = query.where(available_units() > 0 if criteria.in_stock else available_units() <= 0)
    return query


async def product_page(
    database: Database, criteria: ProductCriteria, *, sort: Sort, cursor: str | None, limit: int
) -> tuple[list[DriverRow], str | None]:
    """A page of `product_listing`: one statement, compiled once per shape of the request
    (`platform.db.compiled`: the list is the catalog's hottest read)."""
    shape = ("products", criteria.shape, sort.canonical, cursor is not None, limit)
    query = database.queries.get(
        shape,
        lambda: keyset_statement(
            product_listing(criteria), sort=sort, paged=cursor is not None, limit=limit
        ),
    )
    values = criteria.values | keyset_values(sort=sort, cursor=cursor)
    rows = await database.read_rows(query, values)
    return cut_page(rows, sort=sort, limit=limit)


def product_lookup(*, by_id: bool, live_only: bool) -> ProductView:
    """One product by `:product_id` or by `:slug` (never a deleted one)."""
    query = product_view().where(Product.deleted_at.is_(None))
    if by_id:
        query = query.where(Product.id == bindparam("product_id", type_=Product.id.type))
    else:
        query = query.where(Product.slug == bindparam("slug", type_=String()))
    if live_only:
        query = query.where(Product.status == "active")
    return query


async def live_product(
    database: Database, *, product_id: uuid.UUID | None, slug: str | None
) -> DriverRow | None:
    """A product the public may see, by id or slug; compiled once (`product_page`'s
    reasons: product pages are the second hottest read)."""
    by_id = product_id is not None
    query = database.queries.get(
        ("product", by_id), lambda: product_lookup(by_id=by_id, live_only=True)
    )
    rows = await database.read_rows(query, {"product_id": product_id, "slug": slug})
    return rows[0] if rows else None


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


def encode(document: Any) -> bytes:
    """JSON bytes as the API sends them. Z for UTC, as pydantic writes it: the same instant
    reads the same everywhere. The driver's own UUID type (asyncpg's) is written as text."""
    return orjson.dumps(document, option=orjson.OPT_UTC_Z, default=str)


@dataclass(frozen=True, slots=True)
class EncodedPage:
    body: bytes
    next_url: str | None


@dataclass(frozen=True, slots=True)
class ProductList:
    """A validated list request: its criteria, its sort, and how to read it."""

    params: ProductListParams
    criteria: ProductCriteria
    sort: Sort

    @classmethod
    def plan(cls, params: ProductListParams) -> ProductList:
        """The list `params` ask for; a bad cursor or sort is a 422 here, before any
        cache lookup or SQL. Pages after the first stay in the mode their cursor was
        handed out in."""
        fuzzy = cursor_mode(params.cursor) == FUZZY
        criteria, sort = _criteria_and_sort(params, fuzzy=fuzzy)
        if params.cursor is not None:
            sort.decode_cursor(params.cursor)
        return cls(params, criteria, sort)

    @property
    def cache_key(self) -> str:
        """The identity of the request: its parameters, sorted, defaults dropped."""
        values = self.params.model_dump(exclude_none=True, exclude_defaults=True)
        return "products?" + urlencode(sorted((key, str(value)) for key, value in values.items()))

    async def read(self, database: Database, *, url: URL) -> EncodedPage:
        """The page, encoded. Full-text search first; only when it finds nothing at all
        on a first page of plain words, the typo-tolerant search."""
        params = self.params
        rows, cursor = await product_page(
            database, self.criteria, sort=self.sort, cursor=params.cursor, limit=params.limit
        )
        if not rows and self._may_fall_back:
            criteria, sort = _criteria_and_sort(params, fuzzy=True)
            rows, cursor = await product_page(
                database, criteria, sort=sort, cursor=None, limit=params.limit
            )
        next_url = next_page_url(url, cursor)
        return EncodedPage(
            encode({"items": [product_document(row) for row in rows], "next": next_url}),
            next_url,
        )

    @property
    def _may_fall_back(self) -> bool:
        q = self.params.q
        return (
            q is not None
            and self.params.cursor is None
            and not self.criteria.fuzzy
            and tolerates_typos(q)
        )


def _criteria_and_sort(params: ProductListParams, *, fuzzy: bool) -> tuple[ProductCriteria, Sort]:
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


async def product_page_document(
    database: Database, *, product_id: uuid.UUID | None, slug: str | None
) -> bytes | None:
    """A public product page, encoded; None if there is no such active product."""
    row = await live_product(database, product_id=product_id, slug=slug)
    return encode(product_document(row)) if row is not None else None
