"""Input types bounded by what PostgreSQL stores: every request field uses one of these.

Hostile input must be a 422, never a 500 (and never a stack trace in the log): PostgreSQL
text cannot hold NUL, a lone surrogate cannot even be encoded for the driver, an integer
column refuses what overflows it, `timestamptz` stops where Python's `datetime` does
(once converted to UTC), and JSON cannot carry NaN or Infinity. Refusing these at the edge,
by type, keeps each new field safe by construction instead of by remembering.

- `SafeStr`: text without NUL or lone surrogates (free text: descriptions, passwords).
- `SafeLine`: the same, and no control characters at all (names, slugs, search terms).
- `Int32`, `Int64` and their non-negative variants: integers that fit their column.
- `Timestamp`: an aware datetime that PostgreSQL can store (its UTC form exists).
- `JsonObject`: a JSON object of bounded depth, finite numbers and 64-bit integers, whose
  keys and strings are `SafeStr`.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, Field
from pydantic_core import PydanticCustomError

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# Deeper than any attribute document needs, far below what a recursive encoder chokes on
# (orjson stops at 255 levels, Python's json at about 1,000).
MAX_JSON_DEPTH = 32

_UNSAFE_TEXT = re.compile("[\x00\ud800-\udfff]")
# Single-line fields: C0 controls (tab included), DEL, C1 controls, and lone surrogates.
_UNSAFE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def safe_text(value: str) -> str:
    """`value` unless it holds NUL or a lone surrogate (neither reaches PostgreSQL)."""
    if _UNSAFE_TEXT.search(value) is not None:
        raise PydanticCustomError(
            "unsafe_text", "Text cannot contain NUL characters or unpaired surrogates"
        )
    return value


def safe_line(value: str) -> str:
    """`value` unless it holds a control character, NUL or a lone surrogate."""
    if _UNSAFE_LINE.search(value) is not None:
        raise PydanticCustomError(
            "unsafe_text", "Text cannot contain control characters or unpaired surrogates"
        )
    return value


def is_safe_text(value: str) -> bool:
    return _UNSAFE_TEXT.search(value) is None


SafeStr = Annotated[str, AfterValidator(safe_text)]
SafeLine = Annotated[str, AfterValidator(safe_line)]

Int32 = Annotated[int, Field(ge=INT32_MIN, le=INT32_MAX)]
NonNegativeInt32 = Annotated[int, Field(ge=0, le=INT32_MAX)]
Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
NonNegativeInt64 = Annotated[int, Field(ge=0, le=INT64_MAX)]
# An optimistic-concurrency version (an `Integer` column starting at 1).
Version = Annotated[int, Field(ge=1, le=INT32_MAX)]


def storable_timestamp(value: dt.datetime) -> dt.datetime:
    """`value` in UTC, as `timestamptz` stores it; refused when that instant has no UTC
    form (`0001-01-01T00:00+05:00` is in year 0, `9999-12-31T23:00-05:00` in year 10000)."""
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:
        raise PydanticCustomError(
            "timestamp_out_of_range", "Timestamp is out of the supported range"
        ) from None


Timestamp = Annotated[AwareDatetime, AfterValidator(storable_timestamp)]


def bounded_json(value: Any, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """`value` (parsed JSON) unless it nests deeper than `max_depth`, holds a non-finite
    number (NaN, Infinity, 1e999) or an integer beyond 64 bits, or text that is not
    `SafeStr` (keys included). Walked iteratively: depth costs no Python stack."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, dict | list):
            if depth > max_depth:
                raise PydanticCustomError(
                    "json_too_deep",
                    "JSON is nested more than {max_depth} levels deep",
                    {"max_depth": max_depth},
                )
            if isinstance(node, dict):
                for key, item in node.items():
                    _check_scalar(key)
                    pending.append((item, depth + 1))
            else:
                pending.extend((item, depth + 1) for item in node)
        else:
            _check_scalar(node)
    return value


def _check_scalar(node: Any) -> None:
    if isinstance(node, str):
        safe_text(node)
    elif isinstance(node, bool) or node is None:
        return
    elif isinstance(node, int):
        if not INT64_MIN <= node <= INT64_MAX:
            raise PydanticCustomError("json_int_range", "JSON integers are limited to 64 bits")
    elif isinstance(node, float):
        if not math.isfinite(node):
            raise PydanticCustomError("json_not_finite", "JSON numbers must be finite")
    else:
        raise PydanticCustomError("json_type", "Not a JSON value")


JsonObject = Annotated[dict[str, Any], AfterValidator(bounded_json)]
