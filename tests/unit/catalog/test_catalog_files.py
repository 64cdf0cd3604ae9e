"""A catalog file on disk: its format found, its products read whole or its errors listed."""

from __future__ import annotations

from pathlib import Path

import pytest

from mercato.catalog.transfer.choices import FileFormat
from mercato.catalog.transfer.files import MAX_REPORTED_ERRORS, detect_format, read_catalog_file
from mercato.catalog.transfer.records import FileRefused
from tests.unit.catalog.test_shopify_csv import FIXTURE


def test_the_format_is_found_from_the_file(tmp_path: Path) -> None:
    ours = tmp_path / "ours.csv"
    ours.write_text("handle,name,sku,price_eur\n", encoding="utf-8")
    lines = tmp_path / "ours.jsonl"
    lines.write_text("", encoding="utf-8")
    bom = tmp_path / "excel.csv"
    bom.write_bytes(b"\xef\xbb\xbfHandle,Title\n")  # Excel writes a byte-order mark
    assert detect_format(FIXTURE, None) is FileFormat.SHOPIFY
    assert detect_format(bom, None) is FileFormat.SHOPIFY
    assert detect_format(ours, None) is FileFormat.MERCATO
    assert detect_format(lines, None) is FileFormat.MERCATO
    with pytest.raises(FileRefused, match=r"\.csv or \.jsonl"):
        detect_format(tmp_path / "products.xlsx", None)
    with pytest.raises(FileRefused, match=r"Shopify product export is a \.csv"):
        detect_format(lines, FileFormat.SHOPIFY)


def test_a_shopify_export_needs_the_store_currency() -> None:
    with pytest.raises(FileRefused, match="--currency"):
        read_catalog_file(FIXTURE)
    with pytest.raises(FileRefused, match="--currency"):
        read_catalog_file(FIXTURE, currency="XYZ")
    read: list[int] = []
    reading = read_catalog_file(FIXTURE, currency="GBP", progress=read.append)
    assert (len(reading.products), reading.error_count, len(read)) == (4, 0, 4)
    assert reading.products[0].variants[0].prices == {"GBP": 3800}
    assert "SEO Title" in reading.ignored_columns
    assert "Variant Price" not in reading.ignored_columns
    assert reading.notes  # the oversold variant, the variant without SKU


def test_errors_are_all_counted_and_the_first_hundred_kept(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("not json\n" * 250, encoding="utf-8")
    reading = read_catalog_file(path)
    assert (reading.error_count, len(reading.errors)) == (250, MAX_REPORTED_ERRORS)
    assert str(reading.errors[-1]) == f"line {MAX_REPORTED_ERRORS}: not JSON"


def test_a_file_that_is_not_utf8_is_an_error_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(
        b"handle,name,sku,price_eur\na,A,A-1,1.00\nb,Caf\xe9,B-1,1.00\n" + b"c,C,C-1,1.00\n" * 9000
    )
    reading = read_catalog_file(path)
    assert [product.handle for product in reading.products] == ["a"]
    assert reading.error_count == 1
    assert str(reading.errors[0]) == "line 3: not UTF-8 text"  # its line, not its block


def test_an_excel_bom_is_read_and_what_jsonb_cannot_hold_is_an_error(tmp_path: Path) -> None:
    """#11.8: a UTF-8 BOM (Excel) is no part of the first column; NaN, infinities and JSON
    nested beyond any schema are errors of their line, as the admin API refuses them, not
    crashes at COPY time. (JSONL is parsed by orjson, which reads an integer beyond 64 bits
    as a float: stored, not a crash.)"""
    bom = tmp_path / "excel.csv"
    bom.write_bytes(b"\xef\xbb\xbfhandle,name,sku,price_eur\na,A,A-1,1.00\n")
    assert [product.handle for product in read_catalog_file(bom).products] == ["a"]

    hostile_attributes = [
        '{"a": NaN}',
        '{"a": Infinity}',
        '{"a": 1e999}',
        '{"a": ' + "[" * 500 + "]" * 500 + "}",
    ]
    hostile = tmp_path / "hostile.jsonl"
    hostile.write_text(
        "".join(
            f'{{"handle": "h{number}", "name": "H", "sku": "H-{number}", "price_eur": "1",'
            f' "attributes": {attributes}}}\n'
            for number, attributes in enumerate(hostile_attributes)
        ),
        encoding="utf-8",
    )
    reading = read_catalog_file(hostile)
    assert reading.products == []
    assert sorted(error.line for error in reading.errors) == [1, 2, 3, 4]
