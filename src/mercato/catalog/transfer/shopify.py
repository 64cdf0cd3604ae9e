"""Shopify's product CSV, as Shopify exports it (both the classic header, `Variant SKU`,
and the 2024 one, `SKU`), read into `ProductRecord`s and written back.

The layout (help.shopify.com, "Using CSV files to import and export products"): rows are
grouped by `Handle`; the first row of a handle carries the product's columns (Title, Body,
Vendor, Type, Tags, Published, Status, option names) and its first variant; later rows
carry another variant (option values, SKU, price, stock) and/or another image (`Image Src`,
`Image Position`, `Image Alt Text`) and leave the product columns blank. A product without
options has `Option1 Name` = `Title` and `Option1 Value` = `Default Title`. Prices are
decimals in the store's currency, which the file does not name: the caller says which.

Mapping: Vendor and Product Category go into the product's attributes (Mercato has no
vendor), Type is the product type, Status wins over Published (an active product that is
not published becomes a draft). Columns Mercato has no use for (SEO, Google Shopping,
metafields, international prices, inventory policy …) are ignored and listed.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from typing import TextIO, TypeVar

from mercato.catalog.transfer import cells
from mercato.catalog.transfer.cells import CellError
from mercato.catalog.transfer.csv_rows import CsvRows
from mercato.catalog.transfer.prices import PriceError, decimal_text, minor_units
from mercato.catalog.transfer.records import (
    FileRefused,
    LineError,
    ProductRecord,
    VariantRecord,
)

T = TypeVar("T")
MAX_OPTIONS = 3
DEFAULT_OPTION = ("title", "default title")
# Our field → the headers Shopify has used for it (classic first; compared case-insensitively).
COLUMNS: dict[str, tuple[str, ...]] = {
    "handle": ("Handle", "URL handle"),
    "title": ("Title",),
    "body": ("Body (HTML)", "Description"),
    "vendor": ("Vendor",),
    "product_category": ("Product Category",),
    "type": ("Type",),
    "tags": ("Tags",),
    "published": ("Published", "Published on online store"),
    **{
        f"option{n}_{part}": (f"Option{n} {part.title()}",)
        for n in range(1, MAX_OPTIONS + 1)
        for part in ("name", "value")
    },
    "sku": ("Variant SKU", "SKU"),
    "grams": ("Variant Grams", "Weight value (grams)"),
    "inventory_qty": ("Variant Inventory Qty", "Inventory quantity"),
    "price": ("Variant Price", "Price"),
    "compare_at": ("Variant Compare At Price", "Compare-at price"),
    "barcode": ("Variant Barcode", "Barcode"),
    "image_src": ("Image Src", "Product image URL"),
    "image_position": ("Image Position",),
    "image_alt": ("Image Alt Text",),
    "variant_image": ("Variant Image", "Variant image URL"),
    "status": ("Status",),
}
VARIANT_FIELDS = ("option1_value", "sku", "price", "compare_at", "inventory_qty", "barcode")
STATUSES = ("active", "draft", "archived")
# The header `write_products` writes: the classic export's columns that Mercato fills.
EXPORT_HEADER = (
    "Handle",
    "Title",
    "Body (HTML)",
    "Vendor",
    "Product Category",
    "Type",
    "Tags",
    "Published",
    "Option1 Name",
    "Option1 Value",
    "Option2 Name",
    "Option2 Value",
    "Option3 Name",
    "Option3 Value",
    "Variant SKU",
    "Variant Grams",
    "Variant Inventory Tracker",
    "Variant Inventory Qty",
    "Variant Inventory Policy",
    "Variant Fulfillment Service",
    "Variant Price",
    "Variant Compare At Price",
    "Variant Requires Shipping",
    "Variant Taxable",
    "Variant Barcode",
    "Image Src",
    "Image Position",
    "Image Alt Text",
    "Variant Image",
    "Status",
)


def looks_like_shopify(header: Iterable[str]) -> bool:
    """Shopify's header has a Title (ours has `name`) or the 2024 `URL handle`."""
    folded = {name.strip().casefold() for name in header}
    return "title" in folded or "url handle" in folded


class _Row:
    """One CSV row read by our field names; errors name the file's own column header and
    accumulate, so that one pass reports every bad cell of the row."""

    def __init__(
        self, values: list[str], *, line: int, columns: dict[str, int], headers: list[str]
    ) -> None:
        self.values, self.line, self.columns, self.headers = values, line, columns, headers
        self.errors: list[LineError] = []

    def header(self, field: str) -> str:
        index = self.columns.get(field)
        return self.headers[index] if index is not None else COLUMNS[field][0]

    def __getitem__(self, field: str) -> str:
        index = self.columns.get(field)
        if index is None or index >= len(self.values):
            return ""
        value = self.values[index]
        return value if field == "body" else value.strip()

    def has_any(self, fields: Iterable[str]) -> bool:
        return any(self[field] for field in fields)

    def error(self, field: str, message: str) -> None:
        self.errors.append(LineError(self.line, self.header(field), message))

    def read(self, field: str, reader: Callable[[str], T], default: T) -> T:
        """`reader(cell)`, or `default` with the cell's error recorded."""
        try:
            return reader(self[field])
        except (CellError, PriceError) as error:
            self.error(field, str(error))
            return default


class ShopifyReader:
    """Products from a Shopify product CSV, or the errors of each product's rows."""

    def __init__(self, file: Iterable[str], *, currency: str) -> None:
        self.currency = currency
        self.notes: list[str] = []  # what was done on the file's behalf (generated SKUs …)
        self._rows = CsvRows(file)
        self._headers = self._rows.header
        self._columns = self._map_header()

    def _map_header(self) -> dict[str, int]:
        by_name = {name.casefold(): index for index, name in enumerate(self._headers)}
        columns: dict[str, int] = {}
        for field, names in COLUMNS.items():
            found = [by_name[name.casefold()] for name in names if name.casefold() in by_name]
            if found:
                columns[field] = found[0]
        if "handle" not in columns:
            raise FileRefused("line 1: no Handle column: not a Shopify product CSV")
        used = set(columns.values())
        self.ignored = [name for index, name in enumerate(self._headers) if index not in used]
        return columns

    def __iter__(self) -> Iterator[ProductRecord | LineError]:
        product: ProductRecord | None = None
        errors: list[LineError] = []
        seen: dict[str, int] = {}
        for item in self._rows:
            if isinstance(item, LineError):  # the rest of the file cannot be read
                yield from errors
                yield item
                return
            line, values = item
            row = _Row(values, line=line, columns=self._columns, headers=self._headers)
            if product is None or row["handle"] != product.handle:
                if product is not None:
                    yield from self._finish(product, errors)
                product, errors = self._start_product(row, seen), []
            self._read_variant_and_image(row, product)
            errors += row.errors
        if product is not None:
            yield from self._finish(product, errors)

    def _finish(
        self, product: ProductRecord, errors: list[LineError]
    ) -> Iterator[ProductRecord | LineError]:
        if errors:
            yield from errors
            return
        if not product.variants:
            yield LineError(product.line, None, "a product without a variant row (no price)")
            return
        for number, variant in enumerate(product.variants, start=1):
            if not variant.sku:
                variant.sku = f"{product.handle[:58]}-{number}"
                self.notes.append(f"line {variant.line}: no SKU, {variant.sku!r} given")
        product.order_images()
        yield product

    def _start_product(self, row: _Row, seen: dict[str, int]) -> ProductRecord:
        handle = row["handle"]
        product = ProductRecord(
            handle=handle, name="", line=row.line, columns={"handle": row.header("handle")}
        )
        if not handle:
            row.error("handle", "empty: every row names its product's handle")
        elif handle in seen:
            row.error(
                "handle",
                f"this product's rows began at line {seen[handle]} and another product's"
                " came between: a product's rows must be together",
            )
        seen.setdefault(handle, row.line)
        if not row["title"]:
            row.error("title", "empty on the first row of a product")
        product.name = row.read("title", lambda v: cells.line_text(v, max_length=300), "")
        product.description = row.read("body", lambda v: cells.free_text(v, max_length=20_000), "")
        product.product_type = row.read("type", cells.product_type, "") or None
        product.tags = row.read("tags", cells.tags, [])
        for field in ("vendor", "product_category"):
            value = row.read(field, lambda v: cells.line_text(v, max_length=300), "")
            if value:
                product.attributes[field] = value
        product.status = _status(row)
        product.options = _options(row)
        return product

    def _read_variant_and_image(self, row: _Row, product: ProductRecord) -> None:
        if row.has_any(VARIANT_FIELDS):
            self._read_variant(row, product)
        if row["image_src"]:
            url = row.read("image_src", cells.image_url, "")
            alt = row.read("image_alt", cells.alt_text, "")
            position = row.read(
                "image_position",
                lambda v: cells.integer(v, low=1, high=10_000) if v else None,
                None,
            )
            if url:
                product.add_image(
                    url, alt, line=row.line, position=position, column=row.header("image_src")
                )

    def _read_variant(self, row: _Row, product: ProductRecord) -> None:
        variant = VariantRecord(sku="", line=row.line, columns=_variant_columns(row))
        variant.option_values = _option_values(row, product)
        if product.variants and not product.options:
            row.error("option1_value", "a second variant of a product without options")
        for earlier in product.variants:
            if variant.option_values and earlier.option_values == variant.option_values:
                row.error("option1_value", f"the same option values as line {earlier.line}")
        variant.sku = row.read("sku", lambda v: cells.line_text(v, max_length=64), "")
        if not row["price"]:
            row.error("price", "empty: every variant has a price")
        for field, prices in (("price", variant.prices), ("compare_at", variant.compare_at_prices)):
            if row[field]:
                price = row.read(field, lambda v: minor_units(v, self.currency), None)
                if price is not None:
                    prices[self.currency] = price
        compare_at = variant.compare_at_prices.get(self.currency)
        if compare_at is not None and compare_at <= variant.prices.get(self.currency, -1):
            # Shopify keeps a compare-at price at or below the price and shows none; the
            # catalog refuses one (a "was" price must be higher).
            del variant.compare_at_prices[self.currency]
            self.notes.append(f"line {row.line}: compare-at price not above the price, dropped")
        # Shopify sells past zero when told to and exports a negative quantity; Mercato
        # never oversells, so that is nothing on hand.
        quantity = row.read(
            "inventory_qty",
            lambda v: cells.integer(v, low=-(10**9), high=10**9) if v else 0,
            0,
        )
        if quantity < 0:
            self.notes.append(f"line {row.line}: {quantity} in stock (oversold), 0 on hand")
        variant.on_hand = max(0, quantity)
        variant.weight_g = row.read(
            "grams", lambda v: cells.integer(v, low=0, high=10**7) if v else None, None
        )
        variant.barcode = (
            row.read("barcode", lambda v: cells.line_text(v, max_length=64), "") or None
        )
        if row["variant_image"]:
            variant.image_url = row.read("variant_image", cells.image_url, "") or None
            if variant.image_url:
                product.add_image(
                    variant.image_url, line=row.line, column=row.header("variant_image")
                )
        product.variants.append(variant)


def _variant_columns(row: _Row) -> dict[str, str]:
    return {name: row.header(field) for name, field in _VARIANT_FIELD_COLUMNS}


_VARIANT_FIELD_COLUMNS = (
    ("sku", "sku"),
    ("prices", "price"),
    ("compare_at_prices", "compare_at"),
    ("on_hand", "inventory_qty"),
    ("barcode", "barcode"),
    ("weight_g", "grams"),
    ("image_url", "variant_image"),
    ("option_values", "option1_value"),
)


def _status(row: _Row) -> str:
    """Status wins; without it, Published (blank means published, as in Shopify). An
    active product that is not published on the store is a draft here."""
    status = row["status"].casefold()
    if status and status not in STATUSES:
        row.error("status", "not one of active, draft, archived")
        status = ""
    published = row.read("published", lambda v: cells.boolean(v) if v else True, True)
    if status == "archived":
        return "archived"
    if status == "draft" or not published:
        return "draft"
    return "active"


def _options(row: _Row) -> list[str]:
    names: list[str] = []
    for n in range(1, MAX_OPTIONS + 1):
        field = f"option{n}_name"
        if not row[field]:
            continue
        if len(names) != n - 1:
            row.error(field, "options are filled in order: Option1 first")
        names.append(row.read(field, cells.option_text, ""))
    if len(names) == 1 and (names[0].casefold(), row["option1_value"].casefold()) == (
        DEFAULT_OPTION
    ):
        return []  # Shopify's spelling of "no options"
    if len({name.casefold() for name in names}) != len(names):
        row.error("option1_name", "two options have the same name")
    return names


def _option_values(row: _Row, product: ProductRecord) -> tuple[str, ...]:
    values: list[str] = []
    for n in range(1, MAX_OPTIONS + 1):
        field = f"option{n}_value"
        value = row[field]
        if n <= len(product.options):
            if not value:
                row.error(field, f"empty: the product has the option {product.options[n - 1]!r}")
            else:
                values.append(row.read(field, cells.option_text, ""))
        elif value and not (n == 1 and value.casefold() == DEFAULT_OPTION[1]):
            row.error(field, "a value for an option the product does not have")
    return tuple(values)


def write_products(
    products: Iterable[ProductRecord], file: TextIO, *, currency: str, header: bool = True
) -> int:
    """Write `products` as a Shopify product CSV (prices in `currency`); rows written.
    One row per variant (the first also carries the product and its first image), then
    one row per further image, as Shopify exports. `header=False` appends."""
    writer = csv.writer(file, lineterminator="\n")
    if header:
        writer.writerow(EXPORT_HEADER)
    rows = 0
    for product in products:
        for row in product_rows(product, currency=currency):
            writer.writerow(row)
            rows += 1
    return rows


def product_rows(product: ProductRecord, *, currency: str) -> Iterator[list[str]]:
    """Shopify has no archived variants: only the active ones are written (all of them if
    none is active, so that the product keeps a variant)."""
    options = product.options or ["Title"]
    variants = [v for v in product.variants if v.status == "active"] or product.variants
    count = max(len(variants), len(product.images))
    for index in range(count):
        row = dict.fromkeys(EXPORT_HEADER, "")
        row["Handle"] = product.handle
        if index == 0:
            row.update(
                {
                    "Title": product.name,
                    "Body (HTML)": product.description,
                    "Vendor": str(product.attributes.get("vendor", "")),
                    "Product Category": str(product.attributes.get("product_category", "")),
                    "Type": product.product_type or "",
                    "Tags": ", ".join(product.tags),
                    "Published": "TRUE" if product.status == "active" else "FALSE",
                    "Status": product.status,
                }
            )
            for n, name in enumerate(options, start=1):
                row[f"Option{n} Name"] = name
        if index < len(variants):
            row.update(_variant_cells(variants[index], currency=currency))
        if index < len(product.images):
            image = product.images[index]
            row.update(
                {
                    "Image Src": image.url,
                    "Image Position": str(index + 1),
                    "Image Alt Text": image.alt,
                }
            )
        yield [row[name] for name in EXPORT_HEADER]


def _variant_cells(variant: VariantRecord, *, currency: str) -> dict[str, str]:
    values = variant.option_values or ("Default Title",)
    cells_out = {f"Option{n} Value": value for n, value in enumerate(values, start=1)}
    price = variant.prices.get(currency)
    compare_at = variant.compare_at_prices.get(currency)
    cells_out.update(
        {
            "Variant SKU": variant.sku,
            "Variant Grams": "" if variant.weight_g is None else str(variant.weight_g),
            "Variant Inventory Tracker": "shopify",
            "Variant Inventory Qty": str(variant.on_hand),
            "Variant Inventory Policy": "deny",
            "Variant Fulfillment Service": "manual",
            "Variant Price": "" if price is None else decimal_text(price, currency),
            "Variant Compare At Price": (
                "" if compare_at is None else decimal_text(compare_at, currency)
            ),
            "Variant Requires Shipping": "TRUE",
            "Variant Taxable": "TRUE",
            "Variant Barcode": variant.barcode or "",
            "Variant Image": variant.image_url or "",
        }
    )
    return cells_out
