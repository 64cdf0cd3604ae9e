"""Lists: sort allow-lists, keyset pagination with opaque cursors, `next` links.

A list endpoint declares the fields it may be sorted by; `Sort.parse("-created_at,name")`
refuses anything else (so `sort=pg_sleep(5)` is a 422 before any SQL runs). Pages are cut
by keyset (`WHERE (sort keys) > (last row's keys)`), never by OFFSET, so page 1,000 costs
what page 1 costs and rows inserted meanwhile neither repeat nor vanish. The cursor is the
last row's sort values, base64url-encoded together with the sort it belongs to.

A cursor comes back from the client, so it is input like any other: each value is read
back by its field's parser, which bounds it by the column's type (text without NUL or lone
surrogates, integers within 64 bits, finite floats, timestamps PostgreSQL can store). A
forged cursor is a 422, never a database error.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import math
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import (
    ColumnElement,
    Integer,
    Row,
    Select,
    and_,
    bindparam,
    false,
    literal_column,
    or_,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute
from starlette.datastructures import URL

from mercato.platform.errors import Invalid
from mercato.platform.validation import INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN, is_safe_text

MAX_CURSOR_LENGTH = 1024
T = TypeVar("T")
# Any SELECT, whatever its columns (a page query adds its sort columns to them).
AnySelect = Select[*tuple[Any, ...]]
AnyRow = Row[*tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class SortField:
    """A column a list may be sorted by, and how to read its value back from a cursor."""

    column: ColumnElement[Any] | QueryableAttribute[Any]
    parse: Callable[[Any], Any]


# Largest magnitude of PostgreSQL's `real` (float4): ts_rank and word_similarity return it.
_REAL_MAX = 3.4e38


def parse_datetime(value: Any) -> dt.datetime:
    """A `timestamptz` value: ISO 8601 with an offset, whose UTC form exists."""
    if not isinstance(value, str):
        raise ValueError("not a timestamp")
    parsed = dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("a timestamp without a time zone")
    try:
        return parsed.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError("a timestamp out of range") from None


def parse_str(value: Any) -> str:
    if not isinstance(value, str) or not is_safe_text(value):
        raise ValueError("not a string PostgreSQL can hold")
    return value


def _integer(value: Any, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError("not an integer of the column's range")
    return value


def parse_int(value: Any) -> int:
    """A `bigint` value."""
    return _integer(value, INT64_MIN, INT64_MAX)


def parse_int32(value: Any) -> int:
    """An `integer` value."""
    return _integer(value, INT32_MIN, INT32_MAX)


def parse_real(value: Any) -> float:
    """A `real` value (float4): finite and within its range."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ValueError("not a number")
    number = float(value)
    if not math.isfinite(number) or abs(number) > _REAL_MAX:
        raise ValueError("not a finite float4")
    return number


def parse_uuid(value: Any) -> uuid.UUID:
    return uuid.UUID(str(value))


@dataclass(frozen=True, slots=True)
class SortKey:
    name: str
    field: SortField
    descending: bool


@dataclass(frozen=True, slots=True)
class Sort:
    """A validated sort: the requested keys, then the unique tiebreaker (the id)."""

    keys: tuple[SortKey, ...]
    # A variant of the list the cursor must stay in (e.g. a fuzzy search after an exact
    # one found nothing); part of the cursor, so page 2 is cut like page 1 was.
    mode: str = ""

    @classmethod
    def parse(
        cls,
        value: str,
        *,
        allowed: Mapping[str, SortField],
        tiebreaker: SortField,
        mode: str = "",
    ) -> Sort:
        keys: list[SortKey] = []
        for raw in value.split(","):
            name = raw.strip()
            descending = name.startswith("-")
            name = name.removeprefix("-").removeprefix("+")
            if name not in allowed:
                choices = ", ".join(sorted(allowed))
                # The submitted value is never echoed (problem details never quote input).
                raise Invalid(
                    f"Sort by {choices}, with a leading '-' for descending order.",
                    errors=[_query_error("sort", "not an allowed sort field", "sort")],
                )
            if any(key.name == name for key in keys):
                raise Invalid(
                    "A field appears twice in sort.",
                    errors=[_query_error("sort", "a field appears twice", "sort")],
                )
            keys.append(SortKey(name, allowed[name], descending))
        # The id makes the order total, so a keyset never skips or repeats a row.
        if all(key.name != "id" for key in keys):
            keys.append(SortKey("id", tiebreaker, keys[-1].descending))
        return cls(tuple(keys), mode)

    @property
    def canonical(self) -> str:
        keys = ",".join(("-" if key.descending else "") + key.name for key in self.keys)
        return f"{self.mode}:{keys}" if self.mode else keys

    @property
    def columns(self) -> list[ColumnElement[Any] | QueryableAttribute[Any]]:
        return [key.field.column for key in self.keys]

    def order_by(self) -> list[ColumnElement[Any]]:
        return [
            key.field.column.desc() if key.descending else key.field.column.asc()
            for key in self.keys
        ]

    def after(self, values: Sequence[Any]) -> ColumnElement[bool]:
        """Rows strictly after the row whose sort values are `values`."""
        if all(key.descending == self.keys[0].descending for key in self.keys):
            # One direction: a row comparison, which a matching b-tree index can serve.
            row, last = tuple_(*self.columns), tuple_(*values)
            return row < last if self.keys[0].descending else row > last
        clauses: list[ColumnElement[bool]] = []
        for position, key in enumerate(self.keys):
            equal = [
                k.field.column == v for k, v in zip(self.keys[:position], values, strict=False)
            ]
            beyond = (
                key.field.column < values[position]
                if key.descending
                else (key.field.column > values[position])
            )
            clauses.append(and_(*equal, beyond))
        return or_(false(), *clauses)

    def encode_cursor(self, values: Sequence[Any]) -> str:
        payload = {"s": self.canonical, "v": [_jsonable(value) for value in values]}
        raw = json.dumps(payload, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    def decode_cursor(self, cursor: str) -> list[Any]:
        """The sort values a cursor carries; 422 if it is malformed or of another sort."""
        try:
            if len(cursor) > MAX_CURSOR_LENGTH:
                raise ValueError("too long")
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            payload = json.loads(raw)
            if payload["s"] != self.canonical or len(payload["v"]) != len(self.keys):
                raise ValueError("cursor of another sort")
            return [
                key.field.parse(value) for key, value in zip(self.keys, payload["v"], strict=True)
            ]
        except (ValueError, TypeError, KeyError, RecursionError, binascii.Error):
            raise Invalid(
                "The cursor is not one this list handed out (or the sort changed since).",
                errors=[_query_error("cursor", "not a valid cursor", "cursor")],
            ) from None


def cursor_mode(cursor: str | None) -> str:
    """The mode a cursor was handed out in ("" for none or an unreadable cursor, which
    `Sort.decode_cursor` then refuses)."""
    if cursor is None or len(cursor) > MAX_CURSOR_LENGTH:
        return ""
    try:
        payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        mode, separator, _ = str(payload["s"]).partition(":")
    except (ValueError, TypeError, KeyError, RecursionError, binascii.Error):
        return ""
    return mode if separator else ""


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _query_error(name: str, detail: str, code: str) -> dict[str, str]:
    # The shape of the request-validation errors (platform.http.problems).
    return {"in": "query", "pointer": f"/{name}", "detail": detail, "code": code}


class Page(BaseModel, Generic[T]):
    """One page of a list; `next` is the URL of the following page (None on the last)."""

    items: list[T]
    next: str | None


def next_page_url(url: URL, cursor: str | None) -> str | None:
    """The next page as a relative reference (path and query): never built from the Host
    header, so a cached page cannot carry someone else's host."""
    if cursor is None:
        return None
    following = url.include_query_params(cursor=cursor)
    return f"{following.path}?{following.query}"


def link_header(next_url: str | None) -> dict[str, str]:
    """RFC 8288 `Link` header for the next page, when there is one."""
    return {"Link": f'<{next_url}>; rel="next"'} if next_url is not None else {}


def keyset_statement(query: AnySelect, *, sort: Sort, paged: bool, limit: int) -> AnySelect:
    """`query` in `sort` order, `limit + 1` rows (to learn whether another page follows
    without a COUNT), and when `paged` only the rows after the one whose sort values are
    bound as `:after_<n>`. The sort values come back as `_sort_<n>` columns. Filter values
    and cursor values are parameters (`keyset_values`), so one statement serves every page
    of its shape (`platform.db.compiled`).

    The LIMIT is written into the text: with `LIMIT $n` PostgreSQL cannot reuse a generic
    plan for a prepared statement and plans it anew on every execution (measured: 1,900
    against 5,000 executions/s of the product list; docs/benchmarks.md). It is a
    validated integer, never text from a request."""
    if paged:
        query = query.where(
            sort.after(
                [
                    bindparam(_after_name(n), type_=column.type)
                    for n, column in enumerate(sort.columns)
                ]
            )
        )
    return (
        query.add_columns(*(column.label(_sort_label(n)) for n, column in enumerate(sort.columns)))
        .order_by(*sort.order_by())
        .limit(literal_column(str(int(limit) + 1), Integer()))
    )


def keyset_values(*, sort: Sort, cursor: str | None) -> dict[str, Any]:
    """The cursor's parameters of `keyset_statement` (none on the first page)."""
    if cursor is None:
        return {}
    return {_after_name(n): value for n, value in enumerate(sort.decode_cursor(cursor))}


def page_statement(query: AnySelect, *, sort: Sort, cursor: str | None, limit: int) -> AnySelect:
    """`query` cut to the page after `cursor`, values bound in."""
    statement = keyset_statement(query, sort=sort, paged=cursor is not None, limit=limit)
    values = keyset_values(sort=sort, cursor=cursor)
    return statement.params(values) if values else statement


def _after_name(position: int) -> str:
    return f"after_{position}"


def _sort_label(position: int) -> str:
    return f"_sort_{position}"


async def fetch_page(
    session: AsyncSession,
    query: AnySelect,
    *,
    sort: Sort,
    cursor: str | None,
    limit: int,
) -> tuple[list[AnyRow], str | None]:
    """At most `limit` rows of `query` after `cursor`, and the cursor of the next page."""
    statement = page_statement(query, sort=sort, cursor=cursor, limit=limit)
    rows = list((await session.execute(statement)).all())
    if len(rows) <= limit:
        return rows, None
    return rows[:limit], next_cursor(sort, rows[limit - 1]._mapping)


def cut_page(
    rows: list[dict[str, Any]], *, sort: Sort, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    """The page (`limit` of the `limit + 1` rows of `keyset_statement`) and the cursor of the
    next one, for rows read by column label."""
    if len(rows) <= limit:
        return rows, None
    return rows[:limit], next_cursor(sort, rows[limit - 1])


def next_cursor(sort: Sort, last: Mapping[Any, Any]) -> str:
    """The cursor of the page after the row `last` (its `_sort_<n>` columns)."""
    return sort.encode_cursor([last[_sort_label(n)] for n in range(len(sort.keys))])
