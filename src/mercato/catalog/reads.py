"""The public product list: what a read asks, the one statement that answers it (compiled
once per shape), and the product cards it becomes (product pages: `product_pages.py`).

Every list is one statement over one row per product: the product's denormalised read
fields (`in_stock`, option keys, tags, the search document; `summary.py`) and its
from-price in the currency asked for (`catalog_product_price`) answer the filters and the
sorts by index; the primary image and the category slug are joined in (no N+1:
relationships are not used at all), and the category filter is a subquery over the
materialised paths. Search (`q`) has its own statement: `search.py`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import orjson
from sqlalchemy import (
    BigInteger,
    String,
    and_,
    bindparam,
    exists,
    or_,
    outerjoin,
    select,
)
from sqlalchemy.orm import aliased
from starlette.datastructures import URL

from mercato.catalog.models import Category, Product, ProductImage, ProductPrice
from mercato.catalog.schemas import ProductListParams
from mercato.catalog.search import (
    EXACT,
    FUZZY,
    MODE_COLUMN,
    TYPO_MODES,
    relevance,
    search_statement,
    tolerates_typos,
)
from mercato.catalog.summary import option_key
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

PRODUCT_TIEBREAKER = SortField(Product.id, parse_uuid)
# A product's columns, its available units and its category's slug.
ProductView = AnySelect


@dataclass(frozen=True, slots=True)
class ProductCriteria:
    currency: str
    q: str | None = None
    category: str | None = None
    min_price: int | None = None
    max_price: int | None = None
    # Only products with a price in `currency` (asked for, or sorting by price).
    priced_only: bool = False
    in_stock: bool | None = None
    tag: str | None = None
    product_type: str | None = None
    # `option_key` of the option filters (one GIN lookup whatever their number).
    option_key: str | None = None
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
            self.priced_only,
            self.min_price is not None,
            self.max_price is not None,
            self.in_stock,
            self.tag is not None,
            self.product_type is not None,
            self.option_key is not None,
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
            "tags": [self.tag] if self.tag is not None else None,
            "product_type": self.product_type,
            "option_keys": [self.option_key] if self.option_key is not None else None,
        }


# The from-price in the currency of the request (`ProductCriteria.currency`).
_FROM_PRICE = and_(
    ProductPrice.product_id == Product.id,
    ProductPrice.currency == bindparam("currency", type_=String()),
)
_PRIMARY_IMAGE = and_(ProductImage.product_id == Product.id, ProductImage.is_primary)


def product_sort_fields(criteria: ProductCriteria) -> dict[str, SortField]:
    fields = {
        "created_at": SortField(Product.created_at, parse_datetime),
        "price": SortField(ProductPrice.from_minor, parse_int),
        "name": SortField(Product.name, parse_str),
    }
    if criteria.q is not None:
        # Searches rank in their own statement (`search.py`); this is the field's parser.
        fields["relevance"] = SortField(relevance(EXACT), parse_real)
    return fields


# A card's columns that come with the product row and its from-price.
_ROW_COLUMNS = (
    Product.id,
    Product.slug,
    Product.name,
    Product.product_type,
    Product.tags,
    Product.in_stock,
    Product.category_id,
    Product.status,
    Product.created_at,
    ProductPrice.from_minor,
)


def product_rows() -> ProductView:
    """Products with their from-price, without image and category (a search joins those
    to its page only: `search.py`)."""
    return select(*_ROW_COLUMNS).select_from(outerjoin(Product, ProductPrice, _FROM_PRICE))


@functools.cache
def product_view() -> ProductView:
    """A product card's columns: plain rows, no ORM entities (a list page builds no
    objects it does not need). Built once: statements are immutable, each `.where()` makes
    a new one."""
    return select(
        *_ROW_COLUMNS,
        ProductImage.url.label("image_url"),
        ProductImage.alt.label("image_alt"),
        Category.slug.label("category_slug"),
    ).select_from(
        outerjoin(Product, ProductPrice, _FROM_PRICE)
        .outerjoin(ProductImage, _PRIMARY_IMAGE)
        .outerjoin(Category, Category.id == Product.category_id)
    )


def product_listing(criteria: ProductCriteria) -> ProductView:
    """The products `criteria` selects without `q` (searches: `product_statement`), its
    values as parameters (`ProductCriteria.values`): one statement per shape of criteria,
    whatever the values."""
    assert criteria.q is None
    return product_filters(product_view(), criteria)


def product_filters(query: ProductView, criteria: ProductCriteria) -> ProductView:
    """`query` (products joined to their from-price) cut by every filter but `q`."""
    query = query.where(
        Product.deleted_at.is_(None), Product.status == bindparam("status", type_=String())
    )
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
    if criteria.priced_only:
        query = query.where(ProductPrice.from_minor.is_not(None))
    if criteria.min_price is not None:
        query = query.where(ProductPrice.from_minor >= bindparam("min_price", type_=BigInteger()))
    if criteria.max_price is not None:
        query = query.where(ProductPrice.from_minor <= bindparam("max_price", type_=BigInteger()))
    if criteria.in_stock is not None:
        query = query.where(Product.in_stock.is_(criteria.in_stock))
    if criteria.tag is not None:
        query = query.where(Product.tags.contains(bindparam("tags", type_=Product.tags.type)))
    if criteria.product_type is not None:
        query = query.where(Product.product_type == bindparam("product_type", type_=String()))
    if criteria.option_key is not None:
        keys = bindparam("option_keys", type_=Product.option_keys.type)
        query = query.where(Product.option_keys.contains(keys))
    return query


def product_statement(
    criteria: ProductCriteria, *, sort: Sort, paged: bool, limit: int, fall_back: bool = False
) -> AnySelect:
    """The statement a list page sends (`fall_back`: a search's first page also tries
    the typo-tolerant search when nothing matches; `search.search_statement`)."""
    if criteria.q is None:
        return keyset_statement(product_listing(criteria), sort=sort, paged=paged, limit=limit)
    return search_statement(
        product_filters(product_rows(), criteria),
        sort=sort,
        paged=paged,
        limit=limit,
        fall_back=fall_back,
    )


# The newest products a tag is first looked for in (a common tag is there at once).
_RECENT_FOR_TAGS = 100


@functools.cache
def tag_in_use() -> AnySelect:
    """Whether any product of `:status` has the tag `:tags`: first among the newest
    products (a common tag is found in a few blocks), else asked of the tags GIN index.

    The GIN question is a materialised CTE because a CTE is planned for all its rows: a
    tag absent from the column's statistics is priced like the rarest known one (~1 %),
    so planned for a first row only (under `EXISTS`, or the list's `LIMIT`) the planner
    would walk the newest-first index hoping to meet one soon, through the whole catalog
    when no product has the tag; planned for all, it takes the GIN index, which answers a
    rare or absent tag in a few blocks (a common one would cost a bitmap of half the
    catalog there, hence the newest products first: `OR` stops at the first true)."""
    tags = bindparam("tags", type_=Product.tags.type)
    live = (Product.deleted_at.is_(None), Product.status == bindparam("status", type_=String()))
    recent = (
        select(Product.tags)
        .where(*live)
        .order_by(Product.created_at.desc())
        .limit(_RECENT_FOR_TAGS)
        .subquery("recent")
    )
    tagged = (
        select(Product.id)
        .where(Product.tags.contains(tags), *live)
        .cte("tagged")
        .prefix_with("MATERIALIZED")
    )
    return select(
        or_(
            exists(select(recent.c.tags).where(recent.c.tags.contains(tags))),
            exists(select(tagged.c.id)),
        ).label("in_use")
    )


async def product_page(
    database: Database,
    criteria: ProductCriteria,
    *,
    sort: Sort,
    cursor: str | None,
    limit: int,
    fall_back: bool = False,
) -> tuple[list[DriverRow], str | None]:
    """A page of `product_statement`: one statement, compiled once per shape of the request
    (`platform.db.compiled`: the list is the catalog's hottest read). A tag filter first
    asks whether any product has the tag (`tag_in_use`): none is an empty page at once."""
    if criteria.tag is not None:
        in_use = await database.read_rows(
            database.queries.get(("product-tag-in-use",), tag_in_use), criteria.values
        )
        if not in_use[0]["in_use"]:
            return [], None
    paged = cursor is not None
    shape = ("products", criteria.shape, sort.canonical, paged, limit, fall_back)
    query = database.queries.get(
        shape,
        lambda: product_statement(
            criteria, sort=sort, paged=paged, limit=limit, fall_back=fall_back
        ),
    )
    values = criteria.values | keyset_values(sort=sort, cursor=cursor)
    rows = await database.read_rows(query, values)
    if rows and MODE_COLUMN in rows[0] and rows[0][MODE_COLUMN] != sort.mode:
        # A typo-tolerant mode answered: the next pages stay in it.
        sort = Sort(sort.keys, rows[0][MODE_COLUMN])
    return cut_page(rows, sort=sort, limit=limit)


def product_card(row: Mapping[str, Any], *, currency: str) -> dict[str, Any]:
    """A list row as its JSON document: the shape of `ProductCard` (a test holds them
    together), built without models because lists build many of them."""
    product_id = row["id"]
    category_slug = row["category_slug"]
    from_minor = row["from_minor"]
    image_url = row["image_url"]
    return {
        "id": product_id,
        "slug": row["slug"],
        "name": row["name"],
        "type": row["product_type"],
        "tags": row["tags"],
        "price": (
            {"amount_minor": from_minor, "currency": currency} if from_minor is not None else None
        ),
        "primary_image": (
            {"url": image_url, "alt": row["image_alt"]} if image_url is not None else None
        ),
        "in_stock": row["in_stock"],
        "category": (
            {"id": row["category_id"], "slug": category_slug}
            if row["category_id"] is not None and category_slug is not None
            else None
        ),
        "status": row["status"],
        "created_at": row["created_at"],
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
    default_currency: str

    @classmethod
    def plan(cls, params: ProductListParams, *, default_currency: str) -> ProductList:
        """The list `params` ask for; a bad cursor or sort is a 422 here, before any
        cache lookup or SQL. Pages after the first stay in the mode their cursor was
        handed out in."""
        mode = cursor_mode(params.cursor)
        criteria, sort = _criteria_and_sort(
            params, fuzzy=mode in TYPO_MODES, currency=default_currency, mode=mode
        )
        if params.cursor is not None:
            sort.decode_cursor(params.cursor)
        return cls(params, criteria, sort, default_currency)

    @property
    def cache_key(self) -> str:
        """The identity of the request: its parameters, sorted, defaults dropped."""
        values = self.params.model_dump(exclude_none=True, exclude_defaults=True)
        options = values.pop("options", {})
        pairs = [(key, str(value)) for key, value in values.items()]
        pairs += [
            (f"option.{name.casefold()}", value.casefold()) for name, value in options.items()
        ]
        return "products?" + urlencode(sorted(pairs))

    async def read(self, database: Database, *, url: URL) -> EncodedPage:
        """The page, encoded. Full-text search first; only when it finds nothing at all
        on a first page of plain words, the typo-tolerant search (one statement)."""
        params = self.params
        rows, cursor = await product_page(
            database,
            self.criteria,
            sort=self.sort,
            cursor=params.cursor,
            limit=params.limit,
            fall_back=self._may_fall_back,
        )
        next_url = next_page_url(url, cursor)
        return EncodedPage(
            encode(
                {
                    "items": [product_card(row, currency=self.criteria.currency) for row in rows],
                    "next": next_url,
                }
            ),
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


def _criteria_and_sort(
    params: ProductListParams, *, fuzzy: bool, currency: str, mode: str = EXACT
) -> tuple[ProductCriteria, Sort]:
    """`mode`: the search mode of the cursor (`search.py`); `fuzzy`: a typo-tolerant one."""
    requested = params.sort or ("relevance" if params.q is not None else "-created_at")
    by_price = any(token.strip().lstrip("-+") == "price" for token in requested.split(","))
    criteria = ProductCriteria(
        currency=params.currency or currency,
        q=params.q,
        category=params.category,
        min_price=params.min_price,
        max_price=params.max_price,
        priced_only=params.currency is not None or by_price,
        in_stock=params.in_stock,
        tag=params.tag,
        product_type=params.type,
        option_key=option_key(params.options.items()) if params.options else None,
        status=params.status,
        fuzzy=fuzzy,
    )
    # "relevance" means best first whatever its sign.
    tokens = [
        "-relevance" if token.strip().lstrip("-+") == "relevance" else token
        for token in requested.split(",")
    ]
    sort = Sort.parse(
        ",".join(tokens),
        allowed=product_sort_fields(criteria),
        tiebreaker=PRODUCT_TIEBREAKER,
        mode=(mode or FUZZY) if fuzzy else EXACT,
    )
    return criteria, sort
