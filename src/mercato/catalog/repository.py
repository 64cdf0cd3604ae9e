"""Catalog queries. Never commits: the use case's unit of work does.

Every read the public API makes is one statement: the product list joins stock and the
category slug in (no N+1: relationships are not used at all), and the category filter is a
subquery over the materialised paths.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    String,
    bindparam,
    cast,
    exists,
    func,
    literal_column,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from mercato.catalog.models import MAX_ON_HAND, Category, Inventory, Product
from mercato.platform.db.database import Database, DriverRow
from mercato.platform.listing import (
    AnyRow,
    AnySelect,
    Sort,
    SortField,
    cut_page,
    keyset_statement,
    keyset_values,
    parse_datetime,
    parse_int,
    parse_real,
    parse_str,
    parse_uuid,
)

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


def available_units() -> ColumnElement[int]:
    return func.coalesce(Inventory.on_hand, 0) - func.coalesce(Inventory.reserved, 0)


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
        "price": SortField(Product.price_minor, parse_int),
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
    return (
        select(
            Product.id,
            Product.sku,
            Product.slug,
            Product.name,
            Product.description,
            Product.price_minor,
            Product.currency,
            Product.category_id,
            Product.attributes,
            Product.status,
            Product.version,
            Product.created_at,
            Product.updated_at,
            available_units().label("available"),
            Category.slug.label("category_slug"),
        )
        .outerjoin(Inventory, Inventory.product_id == Product.id)
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
        query = query.where(Product.currency == bindparam("currency", type_=String()))
    if criteria.min_price is not None:
        query = query.where(Product.price_minor >= bindparam("min_price", type_=BigInteger()))
    if criteria.max_price is not None:
        query = query.where(Product.price_minor <= bindparam("max_price", type_=BigInteger()))
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


class CatalogRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    # --- products ------------------------------------------------------------------

    async def product_row(
        self, *, product_id: uuid.UUID | None = None, slug: str | None = None, live_only: bool
    ) -> AnyRow | None:
        query = product_lookup(by_id=product_id is not None, live_only=live_only)
        result = await self._session.execute(query, {"product_id": product_id, "slug": slug})
        return result.first()

    async def product_for_update(self, product_id: uuid.UUID) -> Product | None:
        return await self._session.scalar(
            select(Product)
            .where(Product.id == product_id, Product.deleted_at.is_(None))
            .with_for_update()
            .execution_options(populate_existing=True)
        )

    async def category_id_by_slug(self, slug: str) -> uuid.UUID | None:
        return await self._session.scalar(
            select(Category.id).where(Category.slug == slug, Category.deleted_at.is_(None))
        )

    # --- inventory -----------------------------------------------------------------

    async def set_on_hand(self, product_id: uuid.UUID, on_hand: int) -> Inventory | None:
        """Set the stock unless that goes below what is reserved (None then)."""
        return await self._session.scalar(
            update(Inventory)
            .where(Inventory.product_id == product_id, Inventory.reserved <= on_hand)
            .values(on_hand=on_hand, updated_at=func.now())
            .returning(Inventory)
        )

    async def adjust_on_hand(self, product_id: uuid.UUID, delta: int) -> Inventory | None:
        """Atomic `on_hand += delta`, refused (None) below what is reserved, below 0 or above
        `MAX_ON_HAND`; compared in 64 bits, so no sum overflows the 32-bit column."""
        delta_64 = bindparam("delta", delta, type_=BigInteger())
        adjusted = cast(Inventory.on_hand, BigInteger) + delta_64
        return await self._session.scalar(
            update(Inventory)
            .where(
                Inventory.product_id == product_id,
                adjusted >= Inventory.reserved,
                adjusted >= 0,
                adjusted <= MAX_ON_HAND,
            )
            .values(on_hand=Inventory.on_hand + delta, updated_at=func.now())
            .returning(Inventory)
        )

    async def inventory(self, product_id: uuid.UUID) -> Inventory | None:
        return await self._session.scalar(
            select(Inventory)
            .where(Inventory.product_id == product_id)
            .execution_options(populate_existing=True)
        )

    # --- categories ------------------------------------------------------------------

    async def live_categories(self) -> list[Category]:
        rows = await self._session.scalars(
            select(Category)
            .where(Category.deleted_at.is_(None))
            .order_by(Category.path, Category.position)
        )
        return list(rows)

    async def category_for_update(self, category_id: uuid.UUID) -> Category | None:
        return await self._session.scalar(
            select(Category)
            .where(Category.id == category_id, Category.deleted_at.is_(None))
            .with_for_update()
            .execution_options(populate_existing=True)
        )

    async def category_by_slug(self, slug: str) -> Category | None:
        return await self._session.scalar(
            select(Category).where(Category.slug == slug, Category.deleted_at.is_(None))
        )

    async def move_subtree(self, *, old_prefix: str, new_prefix: str) -> None:
        await self._session.execute(
            update(Category)
            .where(Category.path.like(f"{old_prefix}%"))
            .values(
                path=func.concat(new_prefix, func.substr(Category.path, len(old_prefix) + 1)),
                updated_at=func.now(),
            )
        )

    async def category_in_use(self, category_id: uuid.UUID) -> bool:
        used = await self._session.scalar(
            select(
                exists().where(Product.category_id == category_id, Product.deleted_at.is_(None))
                | exists().where(Category.parent_id == category_id, Category.deleted_at.is_(None))
            )
        )
        return bool(used)
