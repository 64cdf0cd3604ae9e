"""Compiled hot reads: the text is built once per shape, every value is a parameter."""

from __future__ import annotations

import functools

import pytest
from sqlalchemy import Integer, String, bindparam, column, func, select, table
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg

from mercato.platform.db.compiled import QueryCache, compile_query
from mercato.platform.listing import AnySelect

DIALECT = PGDialect_asyncpg()  # type: ignore[no-untyped-call]
ITEMS = table("items", column("name", String()), column("price", Integer()))


def _statement() -> AnySelect:
    return (
        select(ITEMS.c.name, func.coalesce(ITEMS.c.price, 0).label("price"))
        .where(ITEMS.c.name == bindparam("name", type_=String()))
        .where(ITEMS.c.price >= bindparam("min_price", type_=Integer()))
        .limit(bindparam("page_limit", type_=Integer()))
    )


def test_values_bind_by_name_in_the_order_of_the_text() -> None:
    query = compile_query(_statement(), DIALECT)
    arguments = query.arguments({"min_price": 5, "name": "it's; DROP TABLE items", "page_limit": 3})
    by_name = dict(zip(query.names, arguments, strict=True))
    assert by_name["name"] == "it's; DROP TABLE items"
    assert by_name["min_price"] == 5
    assert by_name["page_limit"] == 3
    assert 0 in arguments  # the statement's own literal, bound like the rest
    assert "DROP" not in query.sql  # never in the text
    assert query.sql.count("$") == len(query.names)


def test_a_missing_value_is_an_error_not_a_null() -> None:
    query = compile_query(_statement(), DIALECT)
    with pytest.raises(KeyError):
        query.arguments({"name": "x", "page_limit": 3})


def test_a_shape_is_built_once_and_the_least_recently_used_goes_first() -> None:
    cache = QueryCache(DIALECT, max_entries=2)
    builds: list[str] = []

    def build(shape: str) -> AnySelect:
        builds.append(shape)
        return _statement()

    for shape in ("a", "b", "a", "c", "a", "b"):
        cache.get(shape, functools.partial(build, shape))
    assert builds == ["a", "b", "c", "b"]
