"""The input types bounded by what PostgreSQL stores, the If-Match parser and cursor parsing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from mercato.platform.concurrency import ExpectedVersion
from mercato.platform.listing import parse_datetime, parse_int, parse_int32, parse_real, parse_str
from mercato.platform.validation import (
    INT64_MAX,
    Int32,
    JsonObject,
    SafeLine,
    SafeStr,
    Timestamp,
    bounded_json,
)


class Sample(BaseModel):
    text: SafeStr | None = None
    line: SafeLine | None = None
    small: Int32 | None = None
    when: Timestamp | None = None
    document: JsonObject | None = None


@pytest.mark.parametrize(
    "fields",
    [
        {"text": "a\x00b"},
        {"text": "\ud800"},
        {"text": "x\udfff"},
        {"line": "two\nlines"},
        {"line": "escape\x1b[31m"},
        {"line": "c1\x85"},
        {"small": 2**31},
        {"small": -(2**31) - 1},
        {"when": "0001-01-01T00:00:00+14:00"},
        {"when": "9999-12-31T23:59:59-14:00"},
        {"when": "2026-01-01T00:00:00"},
        {"document": {"a": float("nan")}},
        {"document": {"a": float("inf")}},
        {"document": {"a": 2**63}},
        {"document": {"a": -(2**63) - 1}},
        {"document": {"a\x00": 1}},
        {"document": {"a": ["\ud800"]}},
    ],
)
def test_values_postgresql_cannot_take_are_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as raised:
        Sample(**fields)
    assert "input" not in str(raised.value.errors(include_input=False))


def test_values_postgresql_can_take_pass_unchanged() -> None:
    sample = Sample(
        text="multi\nline\ttext, ünïcode, emoji 🫖",
        line="Ada Lovelace",
        small=2**31 - 1,
        when="2026-01-01T01:00:00+01:00",
        document={"a": [1, 2.5, None, True, {"b": "c"}], "big": INT64_MAX},
    )
    assert sample.when == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert sample.when.tzinfo is dt.UTC


def test_json_depth_is_bounded_without_recursion() -> None:
    deep: Any = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(ValueError, match="nested"):
        bounded_json(deep)
    shallow: Any = 1
    for _ in range(31):
        shallow = [shallow]
    assert bounded_json(shallow) is shallow


@pytest.mark.parametrize(
    ("header", "version"),
    [('"7"', 7), ('"\u00b2"', -1), ('"\u0661"', -1), ('"' + "9" * 11 + '"', -1), ('W/"7"', -1)],
)
def test_if_match_reads_ascii_digits_only(header: str, version: int) -> None:
    expected = ExpectedVersion.from_request(if_match=header, body_version=None)
    assert expected.version == version


@pytest.mark.parametrize(
    ("parse", "value"),
    [
        (parse_str, "a\x00b"),
        (parse_str, "\ud800"),
        (parse_int, 2**63),
        (parse_int, True),
        (parse_int32, 2**31),
        (parse_real, float("nan")),
        (parse_real, 1e300),
        (parse_datetime, "0001-01-01T00:00:00+14:00"),
        (parse_datetime, "2026-01-01T00:00:00"),
        (parse_datetime, 1_700_000_000),
    ],
)
def test_cursor_values_are_bounded_by_their_columns_type(parse: Any, value: Any) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - every parser says "not of this type"
        parse(value)
