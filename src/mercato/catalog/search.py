"""Product search: `q` on the public list, full-text first, typo-tolerant when nothing
matches, in one statement.

- Full text: `websearch_to_tsquery('simple', q)` against the product's weighted search
  document (GIN index), best first by `ts_rank`.
- Typos: when plain words (no websearch operators) match nothing at all on a first page,
  each word is corrected against the vocabulary of product names (`catalog_search_word`, a
  few thousand words with a trigram index; revision 0015's `catalog_corrected_words`):
  products matching all the corrected words, or else any of them, ranked the same way.
  Comparing the query with every product name instead (`word_similarity` over the names'
  trigram index, until issue 15) read thousands of names for two words: 20 to 360 ms a
  query on 40,000 products on this machine, growing with the catalog.
- Bounded ranking: sorted by relevance, only the first `CANDIDATES` matches the index
  yields are ranked (a bitmap scan yields them in storage order: the same candidates for
  every page of a query, so keyset pages neither skip nor repeat). A broad query
  ("charcoal sage" matches 5 % of a generated catalog, a corrected "handmade | kite" a
  fifth) would otherwise rank every match, each a row read, a price looked up and a rank
  computed. The price of it: a broad query lists at most `CANDIDATES` products, the best
  of those rather than of every match.
- Late joins: the page's primary image and category are joined to its rows only, after
  the ranking, never to every candidate.

On a first page the typo-tolerant modes are branches of the same statement, each run
only if the ones before found nothing (one round trip whichever answers); the rows say
which mode answered, and the cursor keeps it for the following pages (`Sort.mode`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Integer,
    String,
    Subquery,
    Text,
    bindparam,
    cast,
    exists,
    func,
    literal_column,
    outerjoin,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.sql.selectable import CTE

from mercato.catalog.models import Category, Product, ProductImage
from mercato.platform.listing import AnySelect, Sort, SortField, SortKey, keyset_statement

# The modes of a search, in the order a first page tries them: the words as typed
# (websearch syntax), then the corrected words all matching, then any of them.
EXACT, FUZZY, FUZZY_ANY = "", "fuzzy", "fuzzy-any"
TYPO_MODES = (FUZZY, FUZZY_ANY)
# Matches ranked when sorted by relevance: 4 pages of 24, few enough to rank in a few
# milliseconds on a busy machine (250 took about 10 ms at a load of 8 on 2 cores).
CANDIDATES = 100
_CANDIDATES = literal_column(str(CANDIDATES), Integer())
# The column telling which mode answered a first page (`search_statement`).
MODE_COLUMN = "_mode"

_SIMPLE: ColumnElement[Any] = literal_column("'simple'::regconfig")
# The search text, bound by name: `ProductCriteria.values`.
_Q = bindparam("q", type_=String())


def tolerates_typos(q: str) -> bool:
    """Plain words get the typo-tolerant fallback; a query using websearch operators
    ("phrase", -exclude, or) asked for precision and gets full-text matching only."""
    words = q.lower().split()
    return '"' not in q and "or" not in words and not any(w.startswith("-") for w in words)


# The words of `q` corrected against the names' vocabulary (revision 0015), looked up once
# per statement and only when a typo-tolerant mode runs (a CTE is evaluated when read).
_CORRECTED = select(func.catalog_corrected_words(_Q).label("words")).cte("corrected")
_AND: ColumnElement[str] = literal_column("' & '")
_OR: ColumnElement[str] = literal_column("' | '")
_NONE: ColumnElement[str] = literal_column("''")


def search_query(mode: str) -> ColumnElement[Any]:
    """The tsquery of `q` in `mode`, computed once per statement (a scalar subquery is an
    InitPlan, not repeated per row): as typed, websearch syntax; all the corrected words;
    any of them."""
    if mode == EXACT:
        return select(func.websearch_to_tsquery(_SIMPLE, _Q)).scalar_subquery()
    words = func.coalesce(_CORRECTED.c.words, _NONE)
    every: ColumnElement[Any] = func.plainto_tsquery(_SIMPLE, words)
    if mode == FUZZY_ANY:
        # The same query with its ANDs made ORs (the text form quotes every lexeme).
        every = cast(func.replace(cast(every, Text()), _AND, _OR), TSQUERY)
    return select(every).select_from(_CORRECTED).scalar_subquery()


def matches(mode: str) -> ColumnElement[bool]:
    """Products whose search document matches `q` (the GIN index)."""
    return Product.search.op("@@", return_type=Boolean)(search_query(mode))


def relevance(mode: str) -> ColumnElement[float]:
    rank: ColumnElement[float] = func.ts_rank(Product.search, search_query(mode))
    return rank


# Where each sort key's value is in the candidates (`Sort` keys by name).
_SORTED_BY = {
    "relevance": "relevance",
    "price": "from_minor",
    "name": "name",
    "created_at": "created_at",
    "id": "id",
}


def _ranked_page(filtered: AnySelect, *, sort: Sort, paged: bool, limit: int) -> AnySelect:
    """One branch: the matching candidates (`filtered`: the list's filters over
    products and their from-price), a page of them in `sort` order, then their image and
    category."""
    candidates = filtered.where(matches(sort.mode)).add_columns(
        relevance(sort.mode).label("relevance")
    )
    if sort.keys[0].name == "relevance":
        candidates = candidates.limit(_CANDIDATES)
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


def search_statement(
    filtered: AnySelect, *, sort: Sort, paged: bool, limit: int, fall_back: bool
) -> AnySelect:
    """The statement of a search page in `sort.mode`. With `fall_back` (a first page of
    plain words), the typo-tolerant modes follow in the same statement, each run only if
    the modes before it found nothing; `MODE_COLUMN` says which answered."""
    if not fall_back:
        return _ranked_page(filtered, sort=sort, paged=paged, limit=limit)
    tried: list[CTE] = []
    for mode in (EXACT, *TYPO_MODES):
        page = _ranked_page(filtered, sort=Sort(sort.keys, mode), paged=False, limit=limit)
        page = page.add_columns(literal_column(f"'{mode}'", Text()).label(MODE_COLUMN))
        for before in tried:
            page = page.where(~exists(select(literal_column("1")).select_from(before)))
        tried.append(page.cte(f"answer_{len(tried)}").prefix_with("MATERIALIZED"))
    answer = union_all(*(select(*found.c) for found in tried)).subquery("answer")
    return select(*answer.c).order_by(*_page_order(answer, sort))
