"""The generated catalog: deterministic, and shaped like a real one (options, 1-12
variants, several currencies, images, tags)."""

from __future__ import annotations

import random

from mercato.catalog.bulk import PRODUCT_COLUMNS, CatalogRows
from mercato.catalog.seed import TAGS, CatalogPlan, generate_categories, generate_products
from mercato.catalog.transfer.records import ProductRecord

PLAN = CatalogPlan(products=400, categories=30, seed=7)


def generated(plan: CatalogPlan = PLAN) -> list[ProductRecord]:
    rng = random.Random(plan.seed)
    categories = generate_categories(plan, rng)
    return [product.record for product in generate_products(plan, categories, rng)]


def test_the_same_seed_gives_the_same_catalog_and_another_seed_another() -> None:
    assert generated() == generated()
    other = generated(CatalogPlan(products=400, categories=30, seed=8))
    assert [p.name for p in other] != [p.name for p in generated()]


def test_products_have_options_variants_prices_images_and_tags() -> None:
    products = generated()
    counts = [len(product.variants) for product in products]
    assert min(counts) == 1
    assert max(counts) == 12
    assert 4 <= sum(counts) / len(counts) <= 8  # ~1.2M variants for 200k products
    assert {len(product.options) for product in products} == {0, 1, 2, 3}
    for product in products:
        assert len({v.option_values for v in product.variants}) == len(product.variants)
        assert all(len(v.option_values) == len(product.options) for v in product.variants)
        assert all("EUR" in v.prices for v in product.variants)
        assert all(
            v.compare_at_prices[c] > v.prices[c]
            for v in product.variants
            for c in v.compare_at_prices
        )
        assert 1 <= len(product.images) <= 4
        assert all(image.url.startswith("https://") for image in product.images)
        assert set(product.tags) <= set(TAGS)
    currencies = {c for p in products for v in p.variants for c in v.prices}
    assert currencies == {"EUR", "GBP", "USD"}
    skus = [v.sku for p in products for v in p.variants]
    assert len(set(skus)) == len(skus)


def test_rows_carry_the_read_fields_the_list_needs() -> None:
    rows = CatalogRows()
    product = next(p for p in generated() if len(p.options) == 2 and p.status == "active")
    product_id = rows.add(product, category_id=None, at=PLAN.until)
    (row,) = rows.products
    columns = dict(zip(PRODUCT_COLUMNS, row, strict=True))
    assert columns["id"] == product_id
    assert columns["in_stock"] == any(v.on_hand > 0 for v in product.variants)
    size = product.variants[0].option_values[0]
    option_keys = columns["option_keys"]
    assert isinstance(option_keys, list)
    assert f"size={size.lower()}" in option_keys
    least = min(v.prices["EUR"] for v in product.variants)
    assert (product_id, "EUR", least) in rows.from_prices
    assert len(rows.variants) == len(rows.stock) == len(product.variants)
    assert sum(1 for image in rows.images if image[-1]) == 1  # one primary image
