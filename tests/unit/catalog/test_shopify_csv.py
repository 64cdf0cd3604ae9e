"""Shopify's product CSV read into records, and written back as Shopify reads it."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from mercato.catalog.transfer.records import FileRefused, LineError, ProductRecord
from mercato.catalog.transfer.shopify import ShopifyReader, write_products

FIXTURE = Path(__file__).parents[2] / "fixtures" / "catalog" / "shopify_products_export.csv"
HEADER = (
    "Handle,Title,Body (HTML),Vendor,Type,Tags,Published,Option1 Name,Option1 Value,"
    "Option2 Name,Option2 Value,Variant SKU,Variant Inventory Qty,Variant Price,"
    "Variant Compare At Price,Image Src,Image Position,Image Alt Text,Status\n"
)


def read(text: str, currency: str = "EUR") -> tuple[list[ProductRecord], list[LineError]]:
    items = list(ShopifyReader(io.StringIO(text, newline=""), currency=currency))
    products = [item for item in items if isinstance(item, ProductRecord)]
    return products, [item for item in items if isinstance(item, LineError)]


def fixture_products() -> list[ProductRecord]:
    products, errors = read(FIXTURE.read_text(encoding="utf-8"))
    assert errors == []
    return products


def test_a_shopify_export_reads_into_products_variants_images_and_tags() -> None:
    tee, mug, desk, lantern = fixture_products()
    assert (tee.handle, tee.name, tee.status, tee.product_type) == (
        "linen-tee",
        "Linen Tee",
        "active",
        "T-Shirts",
    )
    assert '"pre-shrunk"' in tee.description
    assert "\n" in tee.description
    assert tee.tags == ["linen", "summer", "men", "new arrival"]
    assert tee.attributes["vendor"] == "Nordlys"
    assert tee.options == ["Size", "Colour"]
    assert tee.option_values() == [["S", "M", "L"], ["Natural", "Navy"]]
    assert [v.sku for v in tee.variants] == [
        "LT-NAT-S", "LT-NAT-M", "LT-NAT-L", "LT-NAV-S", "LT-NAV-M", "LT-NAV-L",
    ]  # fmt: skip
    first = tee.variants[0]
    assert (first.prices, first.compare_at_prices) == ({"EUR": 3800}, {"EUR": 4500})
    assert (first.on_hand, first.weight_g, first.barcode) == (12, 180, "4901234567894")
    assert tee.variants[4].prices == {"EUR": 3950}
    assert tee.variants[2].on_hand == 0  # oversold in Shopify (-2): nothing on hand here
    assert tee.variants[3].image_url == tee.images[1].url  # the navy picture
    assert [image.alt for image in tee.images] == [
        "Linen tee in natural", "Linen tee in navy", "",
    ]  # fmt: skip
    assert (mug.options, [v.option_values for v in mug.variants]) == ([], [()])
    assert mug.tags == ["kitchen", "coffee"]  # normalised, the repeat dropped
    assert mug.variants[0].prices == {"EUR": 1250}
    assert [image.alt for image in mug.images] == ["Mug, front", "Mug, side"]  # image-only row
    assert (desk.status, desk.options) == ("draft", ["Width", "Finish", "Legs"])
    assert desk.variants[1].sku == "walnut-desk-2"  # Shopify allows no SKU; one is given
    assert desk.variants[0].option_values == ("120 cm", "Oiled", "Steel")
    assert lantern.status == "archived"


def test_what_the_catalog_cannot_hold_is_adapted_and_noted() -> None:
    reader = ShopifyReader(
        io.StringIO(HEADER + "cup,Cup,,,,,,,,,,,-3,5.00,5.00,,,,\n", newline=""), currency="EUR"
    )
    (cup,) = list(reader)
    assert isinstance(cup, ProductRecord)
    variant = cup.variants[0]
    assert (variant.sku, variant.on_hand, variant.compare_at_prices) == ("cup-1", 0, {})
    assert reader.notes == [
        "line 2: compare-at price not above the price, dropped",
        "line 2: -3 in stock (oversold), 0 on hand",
        "line 2: no SKU, 'cup-1' given",
    ]


def test_a_written_export_reads_back_the_same_products() -> None:
    products = fixture_products()
    out = io.StringIO()
    rows = write_products(products, out, currency="EUR")
    assert rows == 6 + 2 + 2 + 1  # one row per variant, or per image when there are more
    again, errors = read(out.getvalue())
    assert errors == []
    assert again == products


def test_the_2024_header_is_read_too() -> None:
    text = (
        "Title,URL handle,Description,Vendor,Type,Tags,Published on online store,Status,SKU,"
        "Option1 name,Option1 value,Price,Compare-at price,Inventory quantity,"
        "Product image URL,Image position,Image alt text\n"
        "Canvas Tote,canvas-tote,Sturdy,Acme,Bags,tote,TRUE,Active,CT-REG,Size,Regular,"
        "24.00,,5,https://cdn.example.com/tote.jpg,1,Tote\n"
        ",canvas-tote,,,,,,,CT-LRG,,Large,29.00,32.00,0,,,\n"
    )
    (tote,), errors = read(text)
    assert errors == []
    assert (tote.name, tote.options, tote.status) == ("Canvas Tote", ["Size"], "active")
    assert [(v.sku, v.option_values, v.prices) for v in tote.variants] == [
        ("CT-REG", ("Regular",), {"EUR": 2400}),
        ("CT-LRG", ("Large",), {"EUR": 2900}),
    ]


def test_prices_follow_the_currency_exponent() -> None:
    row = "yen-cup,Cup,,,,,TRUE,Title,Default Title,,,CUP-1,1,{price},,,,,active\n"
    (cup,), _ = read(HEADER + row.format(price="1200"), currency="JPY")
    assert cup.variants[0].prices == {"JPY": 1200}
    _, errors = read(HEADER + row.format(price="1200.5"), currency="JPY")
    assert [str(error) for error in errors] == [
        "line 2, column 'Variant Price': JPY has 0 decimal(s); this price has more"
    ]


@pytest.mark.parametrize(
    ("row", "column", "message"),
    [
        (",Cup,,,,,,,,,,C-1,1,1.00,,,,,", "Handle", "empty"),
        ("cup,,,,,,,,,,,C-1,1,1.00,,,,,", "Title", "empty on the first row"),
        ("cup,Cup,,,,,,,,,,C-1,1,1.00,,ftp://x/a.jpg,,,", "Image Src", "not an absolute URL"),
        ("cup,Cup,,,,,,,,,,C-1,1,€12,,,,,", "Variant Price", "not a price"),
        ("cup,Cup,,,,,,,,,,C-1,1,,,,,,", "Variant Price", "every variant has a price"),
        ("cup,Cup,,,,,,,,,,C-1,many,1.00,,,,,", "Variant Inventory Qty", "not a whole number"),
        ("cup,Cup,,,,,maybe,,,,,C-1,1,1.00,,,,,", "Published", "not TRUE or FALSE"),
        ("cup,Cup,,,,,,,,,,C-1,1,1.00,,,,,gone", "Status", "not one of"),
        ("cup,Cup,,,,,,Size,,,,C-1,1,1.00,,,,,", "Option1 Value", "has the option 'Size'"),
        ("cup,Cup,,,,,,,,Colour,Red,C-1,1,1.00,,,,,", "Option2 Name", "filled in order"),
        ("cup,Cup\x00,,,,,,,,,,C-1,1,1.00,,,,,", "Title", "control characters"),
        ("cup,Cup,,,,,,,,,,C-1,1,1.00,,https://me:pw@x.example/a.jpg,,,", "Image Src", "URL"),
        ("cup,Cup,,,,,,,,,,C-1,1,1.00,,https://x.example/a.jpg,0,,", "Image Position", "between"),
    ],
)
def test_each_bad_cell_is_named_by_line_and_column(row: str, column: str, message: str) -> None:
    products, errors = read(HEADER + row + "\n")
    assert products == []
    assert errors, "a bad cell was read as good"
    assert (errors[0].line, errors[0].column) == (2, column)  # the first error is the cause
    assert message in errors[0].message


def test_errors_never_repeat_the_cells_content() -> None:
    secret = "sk_live_51HxYzSecretValue"
    _, errors = read(HEADER + f"cup,Cup,,,,,,,,,,C-1,{secret},{secret},,{secret},,,\n")
    assert len(errors) == 3
    assert all(secret not in str(error) for error in errors)


def test_a_products_rows_must_be_together_and_errors_keep_their_line_numbers() -> None:
    text = HEADER + (
        'mug,Mug,"two\nlines",,,,,Size,S,,,M-S,1,1.00,,,,,\n'
        "mug,,,,,,,,M,,,M-M,1,1.00,,,,,\n"
        "mug,,,,,,,,M,,,M-M2,1,1.00,,,,,\n"
        "tee,Tee,,,,,,,,,,T-1,1,1.00,,,,,\n"
        "mug,Mug,,,,,,,,,,M-2,1,1.00,,,,,\n"
    )
    products, errors = read(text)
    assert [product.handle for product in products] == ["tee"]
    assert [str(error) for error in errors] == [
        "line 5, column 'Option1 Value': the same option values as line 4",
        "line 7, column 'Handle': this product's rows began at line 2 and another product's"
        " came between: a product's rows must be together",
    ]


def test_files_that_are_not_a_shopify_export_are_refused() -> None:
    with pytest.raises(FileRefused, match="no Handle column"):
        ShopifyReader(io.StringIO("sku,name\n"), currency="EUR")
    with pytest.raises(FileRefused, match="empty"):
        ShopifyReader(io.StringIO(""), currency="EUR")
    reader = ShopifyReader(io.StringIO(HEADER + "a,b,c\n"), currency="EUR")
    assert reader.ignored == []
