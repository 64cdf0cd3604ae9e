"""A catalog file on disk: which format it is, and all of its products read (or all of its
errors). Reading never touches the database."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mercato.catalog.transfer import native
from mercato.catalog.transfer.choices import FileFormat
from mercato.catalog.transfer.records import FileRefused, LineError, ProductRecord, utf8_lines
from mercato.catalog.transfer.shopify import ShopifyReader, looks_like_shopify
from mercato.platform.money import is_known_currency

MAX_REPORTED_ERRORS = 100


@dataclass
class Reading:
    products: list[ProductRecord] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)
    error_count: int = 0
    notes: list[str] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)

    def add_error(self, error: LineError) -> None:
        """Count every error, keep the first hundred (a file with a wrong column can have
        an error on each of a million lines)."""
        self.error_count += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(error)


def detect_format(path: Path, requested: FileFormat | None) -> FileFormat:
    """`requested`, or by the file: `.jsonl` is ours; a CSV whose header has `Handle` is
    Shopify's; any other CSV is ours."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".jsonl"):
        raise FileRefused("the file must end in .csv or .jsonl")
    if requested is not None:
        if requested is FileFormat.SHOPIFY and suffix != ".csv":
            raise FileRefused("a Shopify product export is a .csv file")
        return requested
    if suffix == ".jsonl":
        return FileFormat.MERCATO
    with path.open(encoding="utf-8-sig", newline="", errors="replace") as file:
        header = next(csv.reader(file), [])
    return FileFormat.SHOPIFY if looks_like_shopify(header) else FileFormat.MERCATO


def read_catalog_file(
    path: Path,
    *,
    file_format: FileFormat | None = None,
    currency: str | None = None,
    progress: Callable[[int], None] = lambda _: None,
) -> Reading:
    """Every product of the file, or every error (by line and column); `progress` gets
    the number of products read as they are."""
    chosen = detect_format(path, file_format)
    if chosen is FileFormat.SHOPIFY and (currency is None or not is_known_currency(currency)):
        raise FileRefused(
            "a Shopify export does not name its currency: give the store's (--currency EUR)"
        )
    reading = Reading()
    with path.open("rb") as file:
        for item in _items(utf8_lines(file), path, chosen, currency or "", reading):
            if isinstance(item, LineError):
                reading.add_error(item)
            else:
                reading.products.append(item)
                progress(1)
    return reading


def _items(
    text: Iterable[str], path: Path, chosen: FileFormat, currency: str, reading: Reading
) -> Iterator[ProductRecord | LineError]:
    if chosen is FileFormat.SHOPIFY:
        reader = ShopifyReader(text, currency=currency)
        reading.ignored_columns = reader.ignored
        yield from reader
        reading.notes = reader.notes
    elif path.suffix.lower() == ".jsonl":
        yield from native.read_products(native.read_jsonl(text))
    else:
        yield from native.read_products(native.read_csv(text))
