"""Mercato's own catalog file: one line per variant, a product's lines together under its
handle, as CSV (a header row) or JSONL (one JSON object per line, the same keys).

Product columns (read from the first line of a handle; later lines leave them blank or
repeat them exactly): `handle`, `name`, `description`, `status`, `type`, `category` (a
category slug), `tags` (comma-separated, or a JSON list in JSONL), `attributes` (a JSON
object), `images` (a JSON list of `{"url", "alt"}`, in order), `option1_name` …
`option3_name`.
Variant columns: `sku`, `option1_value` … `option3_value`, `price_<CUR>` and
`compare_at_<CUR>` per currency (decimal text such as `12.50`, in that currency), `on_hand`,
`barcode`, `weight_g`, `image` (one of the product's image URLs), `variant_status`
(`active`, the default, or `archived`: not sold, kept for orders).
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TextIO, TypeVar

import orjson
from pydantic_core import PydanticCustomError

from mercato.catalog.transfer import cells
from mercato.catalog.transfer.cells import CellError
from mercato.catalog.transfer.csv_rows import CsvRows
from mercato.catalog.transfer.prices import PriceError, decimal_text, minor_units
from mercato.catalog.transfer.records import (
    FileRefused,
    ImageRecord,
    LineError,
    NotUtf8,
    ProductRecord,
    VariantRecord,
)
from mercato.platform.money import is_known_currency
from mercato.platform.validation import bounded_json

T = TypeVar("T")
MAX_OPTIONS = 3
STATUSES = ("draft", "active", "archived")
PRODUCT_COLUMNS = (
    "handle",
    "name",
    "description",
    "status",
    "type",
    "category",
    "tags",
    "attributes",
    "images",
    *(f"option{n}_name" for n in range(1, MAX_OPTIONS + 1)),
)
VARIANT_COLUMNS = (
    "sku",
    *(f"option{n}_value" for n in range(1, MAX_OPTIONS + 1)),
    "on_hand",
    "barcode",
    "weight_g",
    "image",
    "variant_status",
)
VARIANT_STATUSES = ("active", "archived")
_PRICE_COLUMN = re.compile(r"^(price|compare_at)_([a-z]{3})$", re.IGNORECASE)


def check_columns(columns: Iterable[str]) -> list[str]:
    """The columns that are neither ours nor a price in a known currency."""
    known = set(PRODUCT_COLUMNS) | set(VARIANT_COLUMNS)
    unknown = []
    for column in columns:
        match = _PRICE_COLUMN.match(column)
        if column in known or (match and is_known_currency(match.group(2).upper())):
            continue
        unknown.append(column)
    return unknown


class _Line:
    """One line's fields (strings from CSV, JSON values from JSONL) read into records;
    errors accumulate so that one pass reports every bad field of the line."""

    def __init__(self, fields: dict[str, Any], *, line: int) -> None:
        self.fields, self.line = fields, line
        self.errors: list[LineError] = []

    def text(self, column: str) -> str:
        value = self.fields.get(column)
        if value is None:
            return ""
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise CellError("must be text or a number")
        return str(value)

    def has(self, column: str) -> bool:
        value = self.fields.get(column)
        return value not in (None, "", [], {})

    def error(self, column: str | None, message: str) -> None:
        self.errors.append(LineError(self.line, column, message))

    def read(self, column: str, reader: Callable[[str], T], default: T) -> T:
        try:
            return reader(self.text(column))
        except (CellError, PriceError) as error:
            self.error(column, str(error))
            return default

    def json_value(self, column: str, kind: type, default: T) -> T | Any:
        """A JSON object or list: as is from JSONL, parsed from CSV text."""
        value = self.fields.get(column)
        if value in (None, ""):
            return default
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                self.error(column, "not JSON")
                return default
        if not isinstance(value, kind):
            self.error(column, f"must be a JSON {'object' if kind is dict else 'list'}")
            return default
        try:  # what the admin API refuses (and jsonb cannot always hold)
            return bounded_json(value)
        except PydanticCustomError as error:
            self.error(column, str(error))
            return default


def read_csv(file: Iterable[str]) -> Iterator[tuple[int, dict[str, Any]] | LineError]:
    rows = CsvRows(file)
    header = rows.header
    unknown = check_columns(header)
    if unknown:
        raise FileRefused(
            f"line 1: unknown columns: {', '.join(sorted(unknown)[:20])}; expected:"
            f" {', '.join(csv_header(['<currency>']))} (`mercato catalog import --template`)"
        )
    for item in rows:
        if isinstance(item, LineError):
            yield item
            continue
        line, values = item
        if len(values) > len(header):
            yield LineError(line, None, f"{len(values)} cells under a header of {len(header)}")
            continue
        yield line, {name: value for name, value in zip(header, values, strict=False) if value}


def read_jsonl(file: Iterable[str]) -> Iterator[tuple[int, dict[str, Any]] | LineError]:
    lines = enumerate(file, start=1)
    while True:
        try:
            number, text = next(lines)
        except StopIteration:
            return
        except NotUtf8 as error:
            yield LineError(error.line, None, "not UTF-8 text")
            return
        if not text.strip():
            continue
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            yield LineError(number, None, "not JSON")
            continue
        if not isinstance(value, dict):
            yield LineError(number, None, "not a JSON object")
            continue
        unknown = check_columns(value)
        if unknown:
            yield LineError(number, None, f"unknown keys: {', '.join(sorted(unknown)[:20])}")
            continue
        yield number, value


def read_products(
    lines: Iterable[tuple[int, dict[str, Any]] | LineError],
) -> Iterator[ProductRecord | LineError]:
    """Group lines by handle into products; a product with any bad line yields its errors."""
    product: ProductRecord | None = None
    errors: list[LineError] = []
    first: dict[str, Any] = {}
    seen: dict[str, int] = {}
    for item in lines:
        if isinstance(item, LineError):
            yield item
            continue
        number, fields = item
        line = _Line(fields, line=number)
        handle = line.read("handle", lambda v: cells.line_text(v, max_length=160), "")
        if product is None or handle != product.handle:
            if product is not None:
                yield from _finish(product, errors)
            product, errors, first = _start_product(line, handle, seen), [], fields
        else:
            _check_repeats(line, first)
        _read_variant(line, product)
        errors += line.errors
    if product is not None:
        yield from _finish(product, errors)


def _finish(product: ProductRecord, errors: list[LineError]) -> Iterator[ProductRecord | LineError]:
    if errors:
        yield from errors
        return
    images = {image.url for image in product.images}
    for variant in product.variants:
        if variant.image_url and variant.image_url not in images:
            yield LineError(variant.line, "image", "not one of the product's images")
            return
    yield product


def _start_product(line: _Line, handle: str, seen: dict[str, int]) -> ProductRecord:
    product = ProductRecord(handle=handle, name="", line=line.line)
    if not handle:
        line.error("handle", "empty: every line names its product's handle")
    elif handle in seen:
        line.error(
            "handle",
            f"this product's lines began at line {seen[handle]} and another product's came"
            " between: a product's lines must be together",
        )
    seen.setdefault(handle, line.line)
    if not line.has("name"):
        line.error("name", "empty on the first line of a product")
    product.name = line.read("name", lambda v: cells.line_text(v, max_length=300), "")
    product.description = line.read(
        "description", lambda v: cells.free_text(v, max_length=20_000), ""
    )
    status = line.read("status", lambda v: v.strip() or "draft", "draft")
    if status not in STATUSES:
        line.error("status", "not one of draft, active, archived")
    product.status = status
    product.product_type = line.read("type", cells.product_type, "") or None
    product.category = (
        line.read("category", lambda v: cells.line_text(v, max_length=120), "") or None
    )
    tags = line.fields.get("tags")
    if isinstance(tags, list):
        if all(isinstance(tag, str) and "," not in tag for tag in tags):
            line.fields["tags"] = ",".join(tags)  # read as the CSV spelling below
        else:
            line.error("tags", "a list of tags without commas")
            line.fields["tags"] = ""
    product.tags = line.read("tags", cells.tags, [])
    product.attributes = line.json_value("attributes", dict, {})
    for position, image in enumerate(line.json_value("images", list, []), start=1):
        _read_image(line, product, image, position)
    names: list[str] = []
    for n in range(1, MAX_OPTIONS + 1):
        column = f"option{n}_name"
        if line.has(column):
            if len(names) != n - 1:
                line.error(column, "options are filled in order: option1 first")
            names.append(line.read(column, cells.option_text, ""))
    if len({name.casefold() for name in names}) != len(names):
        line.error("option1_name", "two options have the same name")
    product.options = names
    return product


def _read_image(line: _Line, product: ProductRecord, image: object, position: int) -> None:
    if not isinstance(image, dict) or not isinstance(image.get("url"), str):
        line.error("images", f"image {position}: an object with a url")
        return
    alt = image.get("alt") or ""
    try:
        url = cells.image_url(image["url"])
        alt = cells.alt_text(alt if isinstance(alt, str) else "")
    except CellError as error:
        line.error("images", f"image {position}: {error}")
        return
    if any(known.url == url for known in product.images):
        line.error("images", f"image {position}: listed twice")
        return
    product.images.append(
        ImageRecord(url=url, alt=alt, line=line.line, position=position, column="images")
    )


def _check_repeats(line: _Line, first: dict[str, Any]) -> None:
    for column in PRODUCT_COLUMNS[1:]:
        if line.has(column) and line.fields[column] != first.get(column):
            line.error(column, "differs from the product's first line (leave it blank)")


def _read_prices(line: _Line, variant: VariantRecord) -> None:
    for column in line.fields:
        match = _PRICE_COLUMN.match(column)
        if match and line.has(column):
            currency = match.group(2).upper()
            target = variant.prices if match.group(1) == "price" else variant.compare_at_prices
            price = line.read(column, _price_reader(currency), None)
            if price is not None:
                target[currency] = price
    for currency, compare_at in variant.compare_at_prices.items():
        if compare_at <= variant.prices.get(currency, -1):
            line.error(f"compare_at_{currency.lower()}", "not above the price")
        elif currency not in variant.prices:
            line.error(f"compare_at_{currency.lower()}", "a compare-at price without a price")


def _price_reader(currency: str) -> Callable[[str], int | None]:
    return lambda text: minor_units(text, currency)


def _read_variant(line: _Line, product: ProductRecord) -> None:
    variant = VariantRecord(sku="", line=line.line)
    if not line.has("sku"):
        line.error("sku", "empty: every variant has a SKU")
    variant.sku = line.read("sku", lambda v: cells.line_text(v, max_length=64), "")
    values: list[str] = []
    for n in range(1, MAX_OPTIONS + 1):
        column = f"option{n}_value"
        if n <= len(product.options):
            if not line.has(column):
                line.error(column, f"empty: the product has the option {product.options[n - 1]!r}")
            else:
                values.append(line.read(column, cells.option_text, ""))
        elif line.has(column):
            line.error(column, "a value for an option the product does not have")
    variant.option_values = tuple(values)
    if product.variants and not product.options:
        line.error("sku", "a second variant of a product without options")
    for earlier in product.variants:
        if values and earlier.option_values == variant.option_values:
            line.error("option1_value", f"the same option values as line {earlier.line}")
    _read_prices(line, variant)
    priced = (_PRICE_COLUMN.match(c) for c in line.fields if line.has(c))
    if not any(match and match.group(1) == "price" for match in priced):
        line.error(None, "no price: a price_<CUR> column (price_eur …) with a value")
    variant.on_hand = line.read(
        "on_hand", lambda v: cells.integer(v, low=0, high=10**9) if v else 0, 0
    )
    variant.weight_g = line.read(
        "weight_g", lambda v: cells.integer(v, low=0, high=10**7) if v else None, None
    )
    variant.barcode = line.read("barcode", lambda v: cells.line_text(v, max_length=64), "") or None
    variant.image_url = (
        line.read("image", lambda v: cells.image_url(v) if v.strip() else "", "") or None
    )
    variant.status = line.read("variant_status", lambda v: v.strip() or "active", "active")
    if variant.status not in VARIANT_STATUSES:
        line.error("variant_status", "not one of active, archived")
    variant.columns = {
        "sku": "sku",
        "on_hand": "on_hand",
        "barcode": "barcode",
        "weight_g": "weight_g",
        "image_url": "image",
        "option_values": "option1_value",
    }
    product.variants.append(variant)


# --- writing -------------------------------------------------------------------------


def line_fields(product: ProductRecord, *, currencies: Iterable[str]) -> Iterator[dict[str, Any]]:
    """One dict per variant (JSON values); the product's fields on the first."""
    for index, variant in enumerate(product.variants):
        fields: dict[str, Any] = {"handle": product.handle}
        if index == 0:
            fields.update(
                {
                    "name": product.name,
                    "description": product.description,
                    "status": product.status,
                    "type": product.product_type,
                    "category": product.category,
                    "tags": list(product.tags),
                    "attributes": product.attributes,
                    "images": [{"url": image.url, "alt": image.alt} for image in product.images],
                }
            )
            for n, name in enumerate(product.options, start=1):
                fields[f"option{n}_name"] = name
        fields["sku"] = variant.sku
        for n, value in enumerate(variant.option_values, start=1):
            fields[f"option{n}_value"] = value
        for currency in currencies:
            if currency in variant.prices:
                fields[f"price_{currency.lower()}"] = decimal_text(
                    variant.prices[currency], currency
                )
            if currency in variant.compare_at_prices:
                fields[f"compare_at_{currency.lower()}"] = decimal_text(
                    variant.compare_at_prices[currency], currency
                )
        fields.update(
            {
                "on_hand": variant.on_hand,
                "barcode": variant.barcode,
                "weight_g": variant.weight_g,
                "image": variant.image_url,
                "variant_status": None if variant.status == "active" else variant.status,
            }
        )
        yield {key: value for key, value in fields.items() if value not in (None, "", [], {})}


def csv_header(currencies: Iterable[str]) -> list[str]:
    prices = [f"{kind}_{code.lower()}" for code in currencies for kind in ("price", "compare_at")]
    return [*PRODUCT_COLUMNS, *VARIANT_COLUMNS[:4], *prices, *VARIANT_COLUMNS[4:]]


def write_csv(
    products: Iterable[ProductRecord],
    file: TextIO,
    *,
    currencies: list[str],
    header: bool = True,
) -> int:
    """One line per variant; `header=False` to append to a file already started."""
    writer = csv.DictWriter(file, csv_header(currencies), lineterminator="\n")
    if header:
        writer.writeheader()
    rows = 0
    for product in products:
        for fields in line_fields(product, currencies=currencies):
            for column in ("tags", "attributes", "images"):
                if column in fields:
                    fields[column] = (
                        ", ".join(fields[column])
                        if column == "tags"
                        else orjson.dumps(fields[column]).decode()
                    )
            writer.writerow(fields)
            rows += 1
    return rows


def write_jsonl(
    products: Iterable[ProductRecord],
    file: TextIO,
    *,
    currencies: list[str],
) -> int:
    rows = 0
    for product in products:
        for fields in line_fields(product, currencies=currencies):
            file.write(orjson.dumps(fields).decode() + "\n")
            rows += 1
    return rows
