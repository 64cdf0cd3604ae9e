"""Mercato's own catalog file (CSV or JSONL, one line per variant) read and written."""

from __future__ import annotations

import io
import json

import pytest

from mercato.catalog.transfer import native
from mercato.catalog.transfer.records import FileRefused, LineError, ProductRecord
from tests.unit.catalog.test_shopify_csv import fixture_products


def read_csv(text: str) -> tuple[list[ProductRecord], list[LineError]]:
    items = list(native.read_products(native.read_csv(io.StringIO(text, newline=""))))
    return _split(items)


def read_jsonl(text: str) -> tuple[list[ProductRecord], list[LineError]]:
    return _split(list(native.read_products(native.read_jsonl(io.StringIO(text)))))


def _split(
    items: list[ProductRecord | LineError],
) -> tuple[list[ProductRecord], list[LineError]]:
    products = [item for item in items if isinstance(item, ProductRecord)]
    return products, [item for item in items if isinstance(item, LineError)]


def with_prices_in_two_currencies() -> list[ProductRecord]:
    products = fixture_products()
    for product in products:
        product.category = "kitchen" if product.handle == "stoneware-mug" else None
        for variant in product.variants:
            variant.prices["GBP"] = variant.prices["EUR"] * 86 // 100
    return products


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_products_written_read_back_the_same(kind: str) -> None:
    products = with_prices_in_two_currencies()
    out = io.StringIO()
    write = native.write_csv if kind == "csv" else native.write_jsonl
    assert write(products, out, currencies=["EUR", "GBP"]) == 10  # one line per variant
    again, errors = (read_csv if kind == "csv" else read_jsonl)(out.getvalue())
    assert errors == []
    assert again == products


def test_a_csv_line_per_variant_with_prices_per_currency() -> None:
    text = (
        "handle,name,status,tags,option1_name,option1_value,sku,price_eur,price_gbp,"
        "compare_at_eur,on_hand,images,image\n"
        'tee,Tee,active,"cotton, Summer",Size,S,TEE-S,19.00,16.50,25.00,4,'
        '"[{""url"": ""https://cdn.example.com/t.jpg"", ""alt"": ""Tee""}]",'
        "https://cdn.example.com/t.jpg\n"
        "tee,,,,,M,TEE-M,19.00,,,0,,\n"
    )
    (tee,), errors = read_csv(text)
    assert errors == []
    assert (tee.tags, tee.options, tee.option_values()) == (
        ["cotton", "summer"],
        ["Size"],
        [["S", "M"]],
    )
    small, medium = tee.variants
    assert (small.prices, small.compare_at_prices) == ({"EUR": 1900, "GBP": 1650}, {"EUR": 2500})
    assert (medium.prices, medium.on_hand) == ({"EUR": 1900}, 0)
    assert small.image_url == tee.images[0].url


GOOD = {"handle": "t", "name": "T", "sku": "T", "price_eur": "1"}


@pytest.mark.parametrize(
    ("changes", "column", "message"),
    [
        ({"price_eur": None}, None, "no price"),
        ({"sku": None}, "sku", "every variant has a SKU"),
        ({"name": None}, "name", "empty on the first line"),
        ({"price_eur": -1}, "price_eur", "not a price"),
        ({"on_hand": 2**33}, "on_hand", "between"),
        ({"compare_at_eur": "1.00"}, "compare_at_eur", "not above the price"),
        ({"compare_at_gbp": "9.00"}, "compare_at_gbp", "without a price"),
        ({"option1_value": "S"}, "option1_value", "an option the product does not have"),
        ({"status": "live"}, "status", "not one of"),
        ({"attributes": [1]}, "attributes", "JSON object"),
        ({"tags": ["a,b"]}, "tags", "without commas"),
        ({"name": "T\x00"}, "name", "control characters"),
        ({"image": "https://x.example/a.jpg"}, "image", "not one of the product's images"),
        ({"images": [{"url": "javascript:alert(1)"}]}, "images", "https"),
    ],
)
def test_each_bad_field_is_named_by_line_and_column(
    changes: dict[str, object], column: str | None, message: str
) -> None:
    line = {key: value for key, value in (GOOD | changes).items() if value is not None}
    text = json.dumps(line)
    products, errors = read_jsonl("\n" + text + "\n")
    assert products == []
    assert errors, "a bad field was read as good"
    assert (errors[0].line, errors[0].column) == (2, column)
    assert message in errors[0].message


def test_later_lines_of_a_product_cannot_contradict_the_first() -> None:
    text = (
        '{"handle": "t", "name": "T", "option1_name": "Size", "option1_value": "S",'
        ' "sku": "T-S", "price_eur": "1"}\n'
        '{"handle": "t", "name": "Other", "option1_value": "M", "sku": "T-M", "price_eur": "1"}\n'
        '{"handle": "t", "option1_value": "M", "sku": "T-M2", "price_eur": "1"}\n'
        "[1, 2]\n"
        '{"handle": "u", "name": "U", "sku": "U", "price_eur": "1", "is_admin": true}\n'
    )
    products, errors = read_jsonl(text)
    assert products == []
    assert [str(error) for error in errors] == [
        "line 4: not a JSON object",
        "line 5: unknown keys: is_admin",
        "line 2, column 'name': differs from the product's first line (leave it blank)",
        "line 3, column 'option1_value': the same option values as line 2",
    ]


def test_unknown_csv_columns_refuse_the_file() -> None:
    with pytest.raises(FileRefused, match="unknown columns: is_superuser, price_xyz"):
        read_csv("handle,name,sku,price_eur,price_xyz,is_superuser\n")
