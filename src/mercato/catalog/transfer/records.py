"""What a catalog file holds once read, whatever its format: products with their options,
variants (prices per currency, stock) and images. Each record keeps the line it came from,
so that an error found later (by the schema, or against the database) still names it."""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class LineError:
    """One problem in a file: where (line, column) and what, never the offending value
    when it could be a secret pasted into the wrong column (only short, known-safe
    values are quoted by the readers)."""

    line: int
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "file"
        if self.column:
            where += f", column {self.column!r}"
        return f"{where}: {self.message}"


class FileRefused(Exception):
    """The file cannot be read at all (not CSV, no header, unknown format)."""


class NotUtf8(ValueError):
    def __init__(self, line: int) -> None:
        super().__init__(f"line {line}: not UTF-8 text")
        self.line = line


def utf8_lines(raw: Iterable[bytes]) -> Iterator[str]:
    """The file's lines decoded one by one, so that a byte that is not UTF-8 is reported at
    its line (a text file object decodes ahead by blocks). A leading byte-order mark, as
    spreadsheets write, is dropped."""
    for number, data in enumerate(raw, start=1):
        chunk = (
            data[len(codecs.BOM_UTF8) :]
            if number == 1 and data.startswith(codecs.BOM_UTF8)
            else data
        )
        try:
            yield chunk.decode("utf-8")
        except UnicodeDecodeError:
            raise NotUtf8(number) from None


@dataclass(slots=True)
class ImageRecord:
    url: str
    alt: str = ""
    line: int = field(default=0, compare=False)
    # A position the file gave (Shopify's `Image Position`); images are kept in order.
    position: int | None = field(default=None, compare=False)
    column: str | None = field(default=None, compare=False)  # where the URL was read


@dataclass(slots=True)
class VariantRecord:
    sku: str
    option_values: tuple[str, ...] = ()
    prices: dict[str, int] = field(default_factory=dict)  # currency → minor units
    compare_at_prices: dict[str, int] = field(default_factory=dict)
    on_hand: int = 0
    barcode: str | None = None
    weight_g: int | None = None
    status: str = "active"
    image_url: str | None = None
    line: int = field(default=0, compare=False)
    # Where each field came from (field name → column), for errors found after reading.
    columns: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def title(self) -> str:
        return " / ".join(self.option_values)


@dataclass(slots=True)
class ProductRecord:
    handle: str
    name: str
    description: str = ""
    status: str = "draft"
    product_type: str | None = None
    category: str | None = None
    tags: list[str] = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=dict)
    options: list[str] = field(default_factory=list)  # option names, in order
    variants: list[VariantRecord] = field(default_factory=list)
    images: list[ImageRecord] = field(default_factory=list)
    line: int = field(default=0, compare=False)
    columns: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def option_values(self) -> list[list[str]]:
        """Each option's values in the order the variants first use them."""
        values: list[list[str]] = [[] for _ in self.options]
        for variant in self.variants:
            for position, value in enumerate(variant.option_values):
                if value not in values[position]:
                    values[position].append(value)
        return values

    def add_image(
        self,
        url: str,
        alt: str = "",
        *,
        line: int = 0,
        position: int | None = None,
        column: str | None = None,
    ) -> None:
        """Add an image once (a variant's image is usually also a product image row)."""
        for image in self.images:
            if image.url == url:
                image.alt = image.alt or alt
                image.position = image.position or position
                return
        self.images.append(
            ImageRecord(url=url, alt=alt, line=line, position=position, column=column)
        )

    def order_images(self) -> None:
        """Images with a position first, by position; then the others in file order."""
        self.images.sort(key=lambda image: (image.position is None, image.position or 0))
        for position, image in enumerate(self.images, start=1):
            image.position = position
