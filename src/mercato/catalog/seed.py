"""Generated catalogs (`mercato seed catalog`, and the demo catalog of `make run`), by COPY.

Deterministic for a given seed: the same seed gives the same categories, products,
options, variants, prices, stock, images and tags. Names are made of real words (brand,
material, colour, kind of item) so that full-text and typo-tolerant search have something
realistic to chew on.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import asyncpg

from mercato.catalog.bulk import CatalogRows, vacuum_analyze
from mercato.catalog.transfer.records import ImageRecord, ProductRecord, VariantRecord
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
# Every product is priced in EUR; most also in GBP and USD (rates of late 2026, rounded to
# prices ending in 9), so a currency filter has something to leave out.
EXCHANGE_RATES = (("EUR", 1.0, 1.0), ("GBP", 0.86, 0.9), ("USD", 1.08, 0.85))
SIZES = ("XS", "S", "M", "L", "XL", "XXL")
# Weighted like a real catalog: a few tags on many products, many on few (a tag filter's
# plan has to handle both).
TAGS = (
    "bestseller", "new", "sale", "gift idea", "eco", "handmade", "limited edition",
    "made in europe", "vegan", "recycled", "fair trade", "organic", "award winner",
    "back in stock", "staff pick", "summer", "winter", "outdoor", "indoor", "kids",
    "for the home", "minimal", "vintage style", "travel", "premium", "budget", "durable",
    "dishwasher safe", "machine washable", "waterproof", "foldable", "stackable",
    "cordless", "rechargeable", "plastic free", "local maker", "small batch",
    "heritage", "collab", "online exclusive",
)  # fmt: skip
TAG_WEIGHTS = tuple(1 / (rank + 1) for rank in range(len(TAGS)))
MEDIA_BASE = "https://images.mercato.example/catalog"
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

    @property
    def id(self) -> uuid.UUID:
        category_id = self.row[0]
        assert isinstance(category_id, uuid.UUID)
        return category_id


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


@dataclass(frozen=True, slots=True)
class GeneratedProduct:
    record: ProductRecord
    category_id: uuid.UUID
    created_at: dt.datetime
    new_id: Callable[[], uuid.UUID]


def generate_products(
    plan: CatalogPlan, categories: list[GeneratedCategory], rng: random.Random
) -> Iterator[GeneratedProduct]:
    """Products with options, 1-12 variants (prices in EUR and mostly GBP and USD, stock),
    images and tags; handles and SKUs unique by sequence."""
    start = plan.until - dt.timedelta(days=2 * 365)
    step = dt.timedelta(days=2 * 365) / max(plan.products, 1)
    for n in range(plan.products):
        category = rng.choice(categories)
        item = rng.choice(DEPARTMENTS[category.department])
        brand, material, colour = rng.choice(BRANDS), rng.choice(MATERIALS), rng.choice(COLOURS)
        adjective = rng.choice(ADJECTIVES)
        name = f"{brand} {adjective} {material} {item}"
        created = start + step * n
        handle = "-".join(f"{name} {n}".lower().replace("&", "and").split())
        note = rng.choice(("ships in 2 days", "made to order", "limited edition", "bestseller"))
        roll = rng.random()
        record = ProductRecord(
            handle=handle,
            name=name,
            description=(
                f"A {adjective} {item} in {colour} {material}, by {brand}. "
                f"Part of our {category.row[3]} range; {note}."
            ),
            status="active" if roll < 0.95 else ("draft" if roll < 0.98 else "archived"),
            product_type=item,
            tags=sorted(set(rng.choices(TAGS, TAG_WEIGHTS, k=rng.randint(1, 5)))),
            attributes={"brand": brand, "material": material},
        )
        sku = f"{category.department[:3].upper()}-{n:07}"
        _add_options_and_variants(record, sku, colour, material, rng)
        for number in range(1, rng.randint(1, 4) + 1):
            url = f"{MEDIA_BASE}/{handle}/{number}.jpg"
            record.images.append(ImageRecord(url=url, alt=f"{name}, view {number}"))
        record.variants[0].image_url = record.images[0].url
        yield GeneratedProduct(record, category.id, created, _ids(created, rng))


def _ids(created: dt.datetime, rng: random.Random) -> Callable[[], uuid.UUID]:
    """Reproducible time-ordered ids for the rows of a product created at `created`."""
    millis = int(created.timestamp() * 1000)
    return lambda: uuid7(millis=millis, random_bits=rng.getrandbits(80))


def _add_options_and_variants(
    record: ProductRecord, sku: str, colour: str, material: str, rng: random.Random
) -> None:
    """0-3 options (Colour; Size and Colour; Size, Colour and Material) and their
    combinations, at most 12, as variants priced around one base price."""
    shape = rng.random()
    axes: list[tuple[str, list[str]]] = []
    if shape >= 0.2:
        others = rng.sample([c for c in COLOURS if c != colour], 4)
        axes.append(("Colour", [colour, *others][: rng.randint(2, 5) if shape < 0.55 else 3]))
    if shape >= 0.55:
        first = rng.randint(0, 2)
        axes.insert(0, ("Size", list(SIZES[first : first + rng.randint(2, 4)])))
    if shape >= 0.85:
        axes.append(("Material", [material, rng.choice([m for m in MATERIALS if m != material])]))
    record.options = [name for name, _ in axes]
    combinations: list[tuple[str, ...]] = [()]
    for _, axis in axes:
        combinations = [(*done, value) for done in combinations for value in axis]
    base = int(rng.lognormvariate(8.0, 1.0)) // 10 * 10 + 9  # ~€30 median, ending in 9
    currencies = [rate for rate in EXCHANGE_RATES if rng.random() < rate[2]]
    for number, values in enumerate(combinations[:12], start=1):
        # Larger sizes cost a little more.
        euros = base + (100 * SIZES.index(values[0]) if values and values[0] in SIZES else 0)
        variant = VariantRecord(
            sku=f"{sku}-{number:02}" if axes else sku,
            option_values=values,
            on_hand=0 if rng.random() < 0.1 else rng.randint(1, 200),
            weight_g=rng.randint(50, 25_000),
        )
        for code, rate, _ in currencies:
            price = int(euros * rate) // 10 * 10 + 9
            variant.prices[code] = price
            if rng.random() < 0.15:
                variant.compare_at_prices[code] = price * 5 // 4 // 10 * 10 + 19
        record.variants.append(variant)


async def seed_catalog(
    connection: asyncpg.Connection, plan: CatalogPlan, *, progress: Callable[[int], None]
) -> tuple[int, int, int]:
    """COPY the generated catalog (one transaction per batch), then `VACUUM (ANALYZE)`
    it; (categories, products, variants) loaded."""
    loaded = await copy_catalog(connection, plan, progress=progress)
    await vacuum_analyze(connection)
    return loaded


async def copy_catalog(
    connection: asyncpg.Connection, plan: CatalogPlan, *, progress: Callable[[int], None]
) -> tuple[int, int, int]:
    """COPY the generated catalog, a transaction per batch (a savepoint inside the
    caller's transaction, as tests run it); (categories, products, variants)."""
    rng = random.Random(plan.seed)  # noqa: S311 - reproducible test data, not secrets
    categories = generate_categories(plan, rng)
    async with connection.transaction():
        await connection.copy_records_to_table(
            "catalog_category",
            records=[category.row for category in categories],
            columns=CATEGORY_COLUMNS,
        )
    rows = CatalogRows()
    products = variants = 0
    for generated in generate_products(plan, categories, rng):
        rows.add(
            generated.record,
            category_id=generated.category_id,
            at=generated.created_at,
            new_id=generated.new_id,
        )
        if len(rows) == plan.batch:
            products, variants = products + len(rows), variants + len(rows.variants)
            await _copy(connection, rows)
            progress(len(rows))
            rows = CatalogRows()
    if len(rows):
        products, variants = products + len(rows), variants + len(rows.variants)
        await _copy(connection, rows)
        progress(len(rows))
    return len(categories), products, variants


async def _copy(connection: asyncpg.Connection, rows: CatalogRows) -> None:
    async with connection.transaction():
        await rows.copy(connection)


async def catalog_is_empty(connection: asyncpg.Connection) -> bool:
    return not await connection.fetchval("SELECT EXISTS (SELECT 1 FROM catalog_product)")
