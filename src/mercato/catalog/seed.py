"""Generated catalogs (`mercato seed catalog`, and the demo catalog of `make run`), by COPY.

Deterministic for a given seed: the same seed gives the same categories, products, prices
and stock. Names are made of real words (brand, material, colour, kind of item) so that
full-text and typo-tolerant search have something realistic to chew on.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import asyncpg
import orjson

from mercato.platform.ids import uuid7

DEPARTMENTS: dict[str, list[str]] = {
    "kitchen": ["kettle", "teapot", "saucepan", "frying pan", "knife", "cutting board", "mug"],
    "garden": ["hose", "trowel", "planter", "watering can", "pruner", "bench", "lantern"],
    "furniture": ["chair", "table", "shelf", "desk", "stool", "sofa", "wardrobe"],
    "lighting": ["lamp", "pendant", "sconce", "bulb", "floor lamp", "string lights"],
    "bathroom": ["towel", "bath mat", "soap dish", "mirror", "shower curtain", "robe"],
    "office": ["notebook", "pen", "stapler", "monitor stand", "desk organiser", "lamp"],
    "outdoor": ["tent", "sleeping bag", "backpack", "camping stove", "water bottle"],
    "textiles": ["blanket", "cushion", "rug", "curtain", "throw", "duvet cover"],
    "tools": ["hammer", "screwdriver", "drill", "spirit level", "tape measure", "saw"],
    "toys": ["puzzle", "building blocks", "teddy bear", "kite", "board game", "train set"],
}
SUBCATEGORIES = ("essentials", "premium", "eco", "compact", "professional", "vintage")
MATERIALS = (
    "stainless steel",
    "cast iron",
    "copper",
    "oak",
    "walnut",
    "bamboo",
    "linen",
    "cotton",
    "wool",
    "ceramic",
    "porcelain",
    "glass",
    "recycled plastic",
    "brass",
)
COLOURS = (
    "black",
    "white",
    "sage green",
    "navy",
    "terracotta",
    "mustard",
    "grey",
    "blush",
    "charcoal",
    "ivory",
    "teal",
    "burgundy",
)
BRANDS = (
    "Nordlys",
    "Atelier Roux",
    "Kobo",
    "Fernhill",
    "Vela",
    "Okra & Co",
    "Tamsin",
    "Brightwater",
    "Halden",
    "Mizu",
    "Quercus",
    "Ostra",
)
ADJECTIVES = (
    "classic",
    "modern",
    "handmade",
    "foldable",
    "heavy-duty",
    "minimalist",
    "rustic",
    "lightweight",
    "deluxe",
    "everyday",
    "artisan",
    "compact",
)
CURRENCY_WEIGHTS = (("EUR", 0.7), ("GBP", 0.15), ("USD", 0.15))
PRODUCT_COLUMNS = (
    "id",
    "sku",
    "slug",
    "name",
    "description",
    "price_minor",
    "currency",
    "category_id",
    "attributes",
    "status",
    "created_at",
    "updated_at",
)
CATEGORY_COLUMNS = (
    "id",
    "parent_id",
    "slug",
    "name",
    "path",
    "position",
    "created_at",
    "updated_at",
)


@dataclass(frozen=True, slots=True)
class CatalogPlan:
    products: int
    categories: int
    seed: int = 1
    batch: int = 10_000
    until: dt.datetime = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class GeneratedCategory:
    row: tuple[object, ...]
    department: str


def generate_categories(plan: CatalogPlan, rng: random.Random) -> list[GeneratedCategory]:
    """Departments as roots, then subcategories under them until `categories` nodes."""
    now = plan.until
    categories: list[GeneratedCategory] = []
    roots = list(DEPARTMENTS)[: max(1, min(len(DEPARTMENTS), plan.categories))]
    parents: list[tuple[object, str, str, str]] = []  # id, path, slug, department
    for position, department in enumerate(roots):
        category_id = uuid7(millis=int(now.timestamp() * 1000), random_bits=rng.getrandbits(80))
        path = f"/{category_id.hex}/"
        categories.append(
            GeneratedCategory(
                (category_id, None, department, department.title(), path, position, now, now),
                department,
            )
        )
        parents.append((category_id, path, department, department))
    taken = set(roots)
    n = 0
    while len(categories) < plan.categories:
        parent_id, parent_path, parent_slug, department = parents[n % len(parents)]
        label = SUBCATEGORIES[(n // len(parents)) % len(SUBCATEGORIES)]
        suffix = n // (len(parents) * len(SUBCATEGORIES))
        slug = f"{parent_slug}-{label}" + (f"-{suffix}" if suffix else "")
        if slug in taken:  # parents are added as we go: the pattern can come round again
            slug = f"{slug}-{n}"
        taken.add(slug)
        category_id = uuid7(millis=int(now.timestamp() * 1000), random_bits=rng.getrandbits(80))
        path = f"{parent_path}{category_id.hex}/"
        name = f"{label.title()} {department}" + (f" {suffix}" if suffix else "")
        categories.append(
            GeneratedCategory((category_id, parent_id, slug, name, path, n, now, now), department)
        )
        if len(path) < 600 and rng.random() < 0.15:  # some deeper levels
            parents.append((category_id, path, slug, department))
        n += 1
    return categories


def generate_products(
    plan: CatalogPlan, categories: list[GeneratedCategory], rng: random.Random
) -> Iterator[tuple[tuple[object, ...], tuple[object, ...]]]:
    """(product row, inventory row) per product; SKUs and slugs unique by sequence."""
    start = plan.until - dt.timedelta(days=2 * 365)
    step = dt.timedelta(days=2 * 365) / max(plan.products, 1)
    currencies = [code for code, _ in CURRENCY_WEIGHTS]
    weights = [weight for _, weight in CURRENCY_WEIGHTS]
    for n in range(plan.products):
        category = rng.choice(categories)
        item = rng.choice(DEPARTMENTS[category.department])
        brand, material, colour = rng.choice(BRANDS), rng.choice(MATERIALS), rng.choice(COLOURS)
        adjective = rng.choice(ADJECTIVES)
        name = f"{brand} {adjective} {material} {item}"
        created = start + step * n
        product_id = uuid7(millis=int(created.timestamp() * 1000), random_bits=rng.getrandbits(80))
        slug = "-".join(f"{name} {n}".lower().replace("&", "and").split())
        note = rng.choice(("ships in 2 days", "made to order", "limited edition", "bestseller"))
        description = (
            f"A {adjective} {item} in {colour} {material}, by {brand}. "
            f"Part of our {category.row[3]} range; {note}."
        )
        attributes = {
            "brand": brand,
            "colour": colour,
            "material": material,
            "weight_g": rng.randint(50, 25_000),
        }
        roll = rng.random()
        status = "active" if roll < 0.95 else ("draft" if roll < 0.98 else "archived")
        price = int(rng.lognormvariate(8.0, 1.0)) // 10 * 10 + 9  # ~€30 median, ending in 9
        row = (
            product_id,
            f"{category.department[:3].upper()}-{n:07}",
            slug,
            name,
            description,
            price,
            rng.choices(currencies, weights)[0],
            category.row[0],
            orjson.dumps(attributes).decode(),
            status,
            created,
            created,
        )
        on_hand = 0 if rng.random() < 0.1 else rng.randint(1, 200)
        yield row, (product_id, on_hand, min(on_hand, rng.randint(0, 3)))


async def seed_catalog(
    connection: asyncpg.Connection, plan: CatalogPlan, *, progress: Callable[[int], None]
) -> tuple[int, int]:
    """COPY the generated catalog (one transaction per batch); (categories, products)."""
    rng = random.Random(plan.seed)  # noqa: S311 - reproducible test data, not secrets
    categories = generate_categories(plan, rng)
    async with connection.transaction():
        await connection.copy_records_to_table(
            "catalog_category",
            records=[category.row for category in categories],
            columns=CATEGORY_COLUMNS,
        )
    products: list[tuple[object, ...]] = []
    stock: list[tuple[object, ...]] = []
    loaded = 0
    for product, inventory in generate_products(plan, categories, rng):
        products.append(product)
        stock.append(inventory)
        if len(products) == plan.batch:
            loaded += await _copy(connection, products, stock)
            progress(len(products))
            products, stock = [], []
    if products:
        loaded += await _copy(connection, products, stock)
        progress(len(products))
    await connection.execute("ANALYZE catalog_category")
    for table in (
        "catalog_product",
        "catalog_variant",
        "catalog_variant_price",
        "catalog_variant_stock",
        "catalog_product_price",
    ):
        await connection.execute(f"ANALYZE {table}")
    return len(categories), loaded


async def _copy(
    connection: asyncpg.Connection,
    products: list[tuple[object, ...]],
    stock: list[tuple[object, ...]],
) -> int:
    async with connection.transaction():
        # Interim (until the seed generates variants): each product COPYed with its one SKU,
        # price and stock into scratch tables, then spread over the product, its default
        # variant, its price and stock, and the product's read fields, in SQL.
        await connection.execute(_SCRATCH_TABLES)
        await connection.copy_records_to_table(
            "seed_product", records=products, columns=PRODUCT_COLUMNS
        )
        await connection.copy_records_to_table(
            "seed_stock", records=stock, columns=("product_id", "on_hand", "reserved")
        )
        await connection.execute(_SPREAD_DEFAULT_VARIANTS)
    return len(products)


_SCRATCH_TABLES = """
CREATE TEMP TABLE IF NOT EXISTS seed_product (
    id uuid, sku text, slug text, name text, description text, price_minor bigint,
    currency text, category_id uuid, attributes jsonb, status text,
    created_at timestamptz, updated_at timestamptz) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS seed_stock (product_id uuid, on_hand int, reserved int)
    ON COMMIT DELETE ROWS;
"""
_SPREAD_DEFAULT_VARIANTS = """
INSERT INTO catalog_product (id, slug, name, description, category_id, attributes, status,
    created_at, updated_at, in_stock, search)
SELECT p.id, p.slug, p.name, p.description, p.category_id, p.attributes, p.status,
    p.created_at, p.updated_at, s.on_hand > s.reserved,
    setweight(to_tsvector('simple'::regconfig, p.name), 'A')
    || setweight(to_tsvector('simple'::regconfig, p.sku), 'A')
    || setweight(to_tsvector('simple'::regconfig, p.description), 'C')
FROM seed_product p JOIN seed_stock s ON s.product_id = p.id;
INSERT INTO catalog_variant (id, product_id, sku, created_at, updated_at)
SELECT gen_random_uuid(), id, sku, created_at, updated_at FROM seed_product;
INSERT INTO catalog_variant_price (variant_id, currency, amount_minor)
SELECT v.id, p.currency, p.price_minor
FROM seed_product p JOIN catalog_variant v ON v.product_id = p.id;
INSERT INTO catalog_variant_stock (variant_id, on_hand, reserved)
SELECT v.id, s.on_hand, s.reserved
FROM seed_stock s JOIN catalog_variant v ON v.product_id = s.product_id;
INSERT INTO catalog_product_price (product_id, currency, from_minor)
SELECT id, currency, price_minor FROM seed_product;
"""


async def catalog_is_empty(connection: asyncpg.Connection) -> bool:
    return not await connection.fetchval("SELECT EXISTS (SELECT 1 FROM catalog_product)")
