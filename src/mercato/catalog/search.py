"""Product search: `q` on the public list, full-text first, typo-tolerant when nothing
matches, in one statement.

- Full text: `websearch_to_tsquery('simple', q)` against the product's weighted search
  document (GIN index), best first by `ts_rank`.
- Typos: when plain words (no websearch operators) match nothing at all on a first page,
  each word is corrected against the vocabulary of product names (`catalog_search_word`, a
  few thousand words with a trigram index; revision 0014's `catalog_typo_tsquery`) and
  products matching any corrected word are ranked the same way. Comparing the query with
  every product name instead (`word_similarity` over the names' trigram index) read tens of
  thousands of names for a two-word query on 200,000 products.
- Bounded ranking: when sorted by relevance, only the newest `CANDIDATES` matches are
  ranked. A broad query ("black wool" matches a fifth of a generated catalog) would
  otherwise rank every match, reading each one's row; the newest are found by walking the
  primary key (ids are time-ordered) when matches are common, or from the index when rare.
  Each statement is planned for its values (`custom_plans`): a generic plan does not know
  whether the words are common or rare, and the wrong choice reads the whole catalog.
- Late joins: the page's primary image and category are joined to its rows only, after
  the ranking, never to every candidate.

On a first page the typo-tolerant search is a branch of the same statement, run only when
the full-text branch found nothing (one round trip either way); the rows say which branch
answered, and the cursor keeps that mode for the following pages (`Sort.mode`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Integer,
    String,
    Subquery,
    bindparam,
    exists,
    false,
    func,
    literal_column,
    outerjoin,
    select,
    true,
    union_all,
)
from sqlalchemy.sql.functions import Function

from mercato.catalog.models import Category, Product, ProductImage, ProductPrice
from mercato.platform.listing import AnySelect, Sort, SortField, SortKey, keyset_statement

FUZZY = "fuzzy"
# Matches ranked when sorted by relevance: 40 pages of 25. Far more than anyone pages
# through, few enough to rank in a few milliseconds.
CANDIDATES = 1000
_CANDIDATES = literal_column(str(CANDIDATES), Integer())
# The column telling which branch answered a first page (`search_statement`).
FUZZY_COLUMN = "_fuzzy"

_SIMPLE: ColumnElement[Any] = literal_column("'simple'::regconfig")
# The search text, bound by name: `ProductCriteria.values`.
_Q = bindparam("q", type_=String())


def tolerates_typos(q: str) -> bool:
    """Plain words get the typo-tolerant fallback; a query using websearch operators
    ("phrase", -exclude, or) asked for precision and gets full-text matching only."""
    words = q.lower().split()
    return '"' not in q and "or" not in words and not any(w.startswith("-") for w in words)


def search_query(*, fuzzy: bool) -> ColumnElement[Any]:
    """The tsquery of `q`, computed once per statement (a scalar subquery is an InitPlan:
    the typo correction's lookups are not repeated per row)."""
    query: Function[Any] = (
        func.catalog_typo_tsquery(_Q) if fuzzy else func.websearch_to_tsquery(_SIMPLE, _Q)
    )
    return select(query).scalar_subquery()


def matches(*, fuzzy: bool) -> ColumnElement[bool]:
    """Products whose search document matches `q` (the GIN index)."""
    return Product.search.op("@@", return_type=Boolean)(search_query(fuzzy=fuzzy))


def relevance(*, fuzzy: bool) -> ColumnElement[float]:
    rank: ColumnElement[float] = func.ts_rank(Product.search, search_query(fuzzy=fuzzy))
    return rank


# A card's columns that come with the product row, and those joined in after the ranking.
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
# Where each sort key's value is in the candidates (`Sort` keys by name).
_SORTED_BY = {
    "relevance": "relevance",
    "price": "from_minor",
    "name": "name",
    "created_at": "created_at",
    "id": "id",
}


def _ranked_page(
    filtered: AnySelect, *, fuzzy: bool, sort: Sort, paged: bool, limit: int
) -> AnySelect:
    """One branch: the matching candidates (`filtered`: the list's filters over
    products and their from-price), a page of them in `sort` order, then their image and
    category."""
    candidates = filtered.where(matches(fuzzy=fuzzy)).add_columns(
        relevance(fuzzy=fuzzy).label("relevance")
    )
    if sort.keys[0].name == "relevance":
        candidates = candidates.order_by(Product.id.desc()).limit(_CANDIDATES)
    found = candidates.subquery("found")
    page = keyset_statement(
        select(*found.c), sort=_over(sort, found), paged=paged, limit=limit
    ).subquery("page")
    return _with_image_and_category(page, sort)


def _over(sort: Sort, found: Subquery) -> Sort:
    """`sort` over the candidates' columns (same names, so its cursors are the same)."""
    keys = tuple(
        SortKey(key.name, SortField(found.c[_SORTED_BY[key.name]], key.field.parse), key.descending)
        for key in sort.keys
    )
    return Sort(keys, sort.mode)


def _with_image_and_category(page: Subquery, sort: Sort) -> AnySelect:
    image = ProductImage.__table__.alias("image")
    category = Category.__table__.alias("category")
    return (
        select(
            *(column for column in page.c if column.key != "relevance"),
            image.c.url.label("image_url"),
            image.c.alt.label("image_alt"),
            category.c.slug.label("category_slug"),
        )
        .select_from(
            outerjoin(
                page,
                image,
                (image.c.product_id == page.c.id) & image.c.is_primary,
            ).outerjoin(category, category.c.id == page.c.category_id)
        )
        .order_by(*_page_order(page, sort))
    )


def _page_order(page: Subquery, sort: Sort) -> list[ColumnElement[Any]]:
    """The order of `sort` over a page's `_sort_<n>` columns (`keyset_statement`)."""
    labels = [page.c[f"_sort_{n}"] for n in range(len(sort.keys))]
    return [
        label.desc() if key.descending else label.asc()
        for label, key in zip(labels, sort.keys, strict=True)
    ]


def product_rows() -> AnySelect:
    """Products with their from-price in the asked currency, before any filter."""
    return select(*_ROW_COLUMNS).select_from(
        outerjoin(
            Product,
            ProductPrice,
            (ProductPrice.product_id == Product.id)
            & (ProductPrice.currency == bindparam("currency", type_=String())),
        )
    )


def search_statement(
    filtered: AnySelect, *, sort: Sort, paged: bool, limit: int, fall_back: bool
) -> AnySelect:
    """The statement of a search page in `sort.mode`. With `fall_back` (a first page of
    plain words, full-text mode), the typo-tolerant branch follows in the same statement
    and runs only if the full-text branch found nothing; `FUZZY_COLUMN` says which
    answered."""
    fuzzy = sort.mode == FUZZY
    first = _ranked_page(filtered, fuzzy=fuzzy, sort=sort, paged=paged, limit=limit)
    if not fall_back:
        return first
    exact = first.add_columns(false().label(FUZZY_COLUMN)).cte("exact")
    exact = exact.prefix_with("MATERIALIZED")
    typo_sort = Sort(sort.keys, FUZZY)
    typos = _ranked_page(filtered, fuzzy=True, sort=typo_sort, paged=False, limit=limit)
    typos = typos.add_columns(true().label(FUZZY_COLUMN)).where(
        ~exists(select(literal_column("1")).select_from(exact))
    )
    answer = union_all(select(*exact.c), typos).subquery("answer")
    return select(*answer.c).order_by(*_page_order(answer, sort))
