"""`GET /api/v1/products` under load, against a Python ceiling and the database limit.

Data: `seed_catalog` (the `mercato seed catalog` generator), N products with 1-12
variants each (about 6 on average), 500 categories.
Mercato runs as `mercato serve` with the Redis cache (rate limits off, logs to /dev/null);
the baseline is `bench/baseline_app.py` (Starlette + asyncpg + orjson) under uvicorn. wrk
drives both (2 threads, 8 connections, 10 s); pgbench runs the same SQL.

Scenarios:
- cache hit: the first page of the default list, always the same URL; baseline: the same
  bytes returned from Redis;
- cache miss: `currency=EUR&min_price=<0..5000>&limit=<20..30>` (55,011 keys: few
  repeats in a run; pages stay full), the cache retired before each run; the share of
  reads that were misses is reported from Mercato's metrics;
  baselines: the same SQL through asyncpg + orjson, and through pgbench;
- search: `q=<material> <item>` with a random `max_price` (misses), and the p99 target;
- detail: `GET /api/v1/products/{id}` for 2,000 random ids (misses, then hits);
- product page miss: `GET /api/v1/products/{id}` over 100,000 random ids, the cache
  retired before each run; baseline: the product page statement
  (`product_pages.page_statement`) through asyncpg (jsonb decoded by orjson, as Mercato's
  engine does) and the row encoded with orjson.

Per the method (checklists/performance.md) the scenarios run in `rounds` interleaved
rounds, Mercato then its baseline; the report gives medians and the range of the ratios.
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
from redis.asyncio import Redis
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg

from bench.support import (
    CONNECTIONS,
    DURATION_S,
    Load,
    Server,
    lua_list,
    pgbench,
    require_tool,
    rss_mib,
    wrk,
    wrk_load,
)
from mercato.catalog.cache import RedisCatalogCache
from mercato.catalog.product_pages import page_statement
from mercato.catalog.reads import _criteria_and_sort, product_listing
from mercato.catalog.schemas import ProductListParams
from mercato.catalog.seed import DEPARTMENTS, MATERIALS, CatalogPlan, seed_catalog
from mercato.platform.db.compiled import compile_query
from mercato.platform.jobs.runtime import libpq_url
from mercato.platform.listing import keyset_statement, keyset_values

# min_price drawn up to here keeps pages full (prices are ~€30 at the median), so every
# request does a page's worth of work rather than scanning for matches that do not exist.
MAX_MIN_PRICE = 5_000
# Page sizes drawn for the cache-miss row: with min_price, enough keys for few repeats,
# and the same plan as any list (LIMIT is a parameter; a price range would change it).
LIMITS = (20, 30)
MAX_PRICE = 1_000_000
CACHED_KEY = "bench:catalog:first-page"
# Product ids the page-miss row draws from (few repeats in a run: misses).
PAGE_MISS_IDS = 100_000


@dataclass(frozen=True)
class Row:
    scenario: str
    mercato: list[Load]
    baseline_name: str
    baseline: list[Load]

    @property
    def ratios(self) -> list[float]:
        if not self.baseline:
            return []
        return [
            ours.requests_per_s / theirs.requests_per_s
            for ours, theirs in zip(self.mercato, self.baseline, strict=True)
        ]


@dataclass(frozen=True)
class Results:
    products: int
    variants: int
    rounds: int
    seed_s: float
    rows: list[Row]
    pgbench_miss: Load
    miss_share: list[float]
    page_miss_share: list[float]
    mercato_rss_mib: float
    seeded_before: bool = False


def median_load(loads: list[Load]) -> Load:
    return Load(
        requests_per_s=statistics.median(load.requests_per_s for load in loads),
        p50_ms=statistics.median(load.p50_ms for load in loads),
        p99_ms=statistics.median(load.p99_ms for load in loads),
        errors=sum(load.errors for load in loads),
    )


def _miss_sql() -> str:
    """The cache-miss list's statement, as Mercato sends it for one page size: `$1` is
    min_price, `<limit>` stands for the LIMIT (the page size + 1, written into the text as
    Mercato does, so each page size is its own statement)."""
    # Through the list's own parameter handling: the very criteria and sort Mercato
    # derives from `?currency=EUR&min_price=…` (with variants, a currency also means
    # "priced in it").
    params = ProductListParams.model_validate({"currency": "EUR", "min_price": 0})
    criteria, sort = _criteria_and_sort(params, fuzzy=False, currency="EUR")
    query = compile_query(
        keyset_statement(product_listing(criteria), sort=sort, paged=False, limit=123456788),
        PGDialect_asyncpg(),  # type: ignore[no-untyped-call]
    )
    values = criteria.values | keyset_values(sort=sort, cursor=None)
    # Everything but the prices inlined, for pgbench and the baseline app alike.
    sql = query.sql
    kept = {"min_price": "$1"}
    for position, (name, value) in reversed(
        list(enumerate(zip(query.names, query.arguments(values), strict=True), start=1))
    ):
        sql = sql.replace(f"${position}", f"<{name}>" if name in kept else _literal(value))
    for name, placeholder in kept.items():
        sql = sql.replace(f"<{name}>", placeholder)
    return sql.replace("123456789", "<limit>")


def _page_sql() -> str:
    """The public product page's statement by id, as Mercato sends it: `$1` is the
    currency, `$2` the id."""
    query = compile_query(
        page_statement(by_id=True, public=True),
        PGDialect_asyncpg(),  # type: ignore[no-untyped-call]
    )
    assert query.names == ("currency", "product_id"), query.names
    return query.sql


def _literal(value: object) -> str:
    if isinstance(value, int):
        return str(value)
    assert isinstance(value, str)
    assert "'" not in value
    return f"'{value}'"


# wrk gives each thread its own Lua state, seeded alike: without this both threads send
# the same "random" sequence, and half the requests of a miss row are hits (or wait on
# the other thread's recomputation lock).
_SEED_PER_THREAD = """local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("seed", threads)
end
function init(args)
  math.randomseed(os.time() * 1000 + (seed or 0) * 7919)
end
"""


def _script(workdir: Path, name: str, body: str) -> Path:
    script = workdir / f"{name}.lua"
    script.write_text(_SEED_PER_THREAD + body if body else body)
    return script


def _miss_script(workdir: Path, name: str, path: str) -> Path:
    low, high = LIMITS
    return _script(
        workdir,
        name,
        "request = function()\n"
        f'  return wrk.format("GET", "{path}min_price=" .. math.random(0, {MAX_MIN_PRICE})'
        f' .. "&limit=" .. math.random({low}, {high}))\n'
        "end\n",
    )


def _search_script(workdir: Path) -> Path:
    items = sorted({item for items in DEPARTMENTS.values() for item in items if " " not in item})
    queries = [f"{material.split()[-1]}+{item}" for material in MATERIALS for item in items]
    return _script(
        workdir,
        "search",
        f"local queries = {lua_list(queries)}\n"
        "request = function()\n"
        "  local q = queries[math.random(#queries)]\n"
        '  return wrk.format("GET", "/api/v1/products?currency=EUR&q=" .. q .. '
        f'"&max_price=" .. math.random(1000, {MAX_PRICE}))\n'
        "end\n",
    )


def _detail_script(workdir: Path, name: str, path: str, ids: list[str]) -> Path:
    return _script(
        workdir,
        name,
        f"local ids = {lua_list(ids)}\n"
        "request = function()\n"
        f'  return wrk.format("GET", "{path}" .. ids[math.random(#ids)])\n'
        "end\n",
    )


async def _seed(database_url: str, products: int, *, seeded: bool) -> tuple[float, int, list[str]]:
    """Seconds to seed (COPY and VACUUM (ANALYZE) included; 0 when `seeded` already),
    variants, and the live products' ids in a random order."""
    connection = await asyncpg.connect(libpq_url(database_url))
    try:
        started = time.monotonic()
        if seeded:
            variants = await connection.fetchval("SELECT count(*) FROM catalog_variant")
        else:
            _, _, variants = await seed_catalog(
                connection,
                CatalogPlan(products=products, categories=500),
                progress=lambda _: None,
            )
        seconds = time.monotonic() - started
        rows = await connection.fetch(
            "SELECT id FROM catalog_product WHERE status = 'active' AND deleted_at IS NULL"
        )
    finally:
        await connection.close()
    ids = [str(row["id"]) for row in rows]
    return seconds, variants, random.Random(7).sample(ids, len(ids))


async def _copy_first_page_to(redis_url: str, base: str) -> None:
    """The bytes Mercato serves on a hit, where the baseline will return them from."""
    async with httpx.AsyncClient(base_url=base) as client:
        body = (await client.get("/api/v1/products")).content
    redis = Redis.from_url(redis_url)
    try:
        await redis.set(CACHED_KEY, body)
    finally:
        await redis.aclose()


async def run(
    database_url: str, *, products: int, rounds: int = 3, seeded_url: str | None = None
) -> Results:
    """`seeded_url`: a database `mercato seed catalog --products <products>` has loaded
    already (used as is, the seeding not timed), instead of seeding `database_url`."""
    require_tool("wrk")
    require_tool("pgbench")
    redis_url = os.environ.get("REDIS_URL")
    if redis_url is None:
        raise SystemExit("the catalog benchmark needs REDIS_URL (the cache under test)")
    workdir = Path(tempfile.mkdtemp(prefix="mercato-bench-catalog-"))
    database_url = seeded_url or database_url
    seed_s, variants, all_ids = await _seed(database_url, products, seeded=seeded_url is not None)
    ids, page_ids = all_ids[:2000], all_ids[:PAGE_MISS_IDS]
    # Rows loaded by COPY bypass the commit listeners: retire what an earlier run cached
    # in this Redis (the seed is deterministic, so ids and URLs would match).
    await _retire(redis_url)
    miss_sql = _miss_sql()
    low, high = LIMITS
    (workdir / "miss.sql").write_text(
        f"\\set p random(0, {MAX_MIN_PRICE})\n\\set q random({low + 1}, {high + 1})\n"
        + miss_sql.replace("$1", ":p").replace("<limit>", ":q")
        + ";\n"
    )

    mercato = Server(database_url, workdir, extra_env={"REDIS_URL": redis_url})
    baseline = Server(
        database_url,
        workdir,
        extra_env={
            "REDIS_URL": redis_url,
            "BASELINE_DSN": libpq_url(database_url),
            "BASELINE_LIST_SQL": miss_sql,
            "BASELINE_PAGE_SQL": _page_sql(),
            "BASELINE_CACHED_KEY": CACHED_KEY,
        },
        command=(
            "-m",
            "uvicorn",
            "bench.baseline_app:app",
            "--host",
            "127.0.0.1",
            "--port",
            "{port}",
            "--no-access-log",
            "--log-level",
            "warning",
        ),
    )
    hit, miss, search, detail = (
        Row("cache hit: first page", [], "Starlette: same bytes from Redis", []),
        Row(
            "cache miss: EUR, random min_price and page size",
            [],
            "Starlette + asyncpg + orjson: same SQL",
            [],
        ),
        Row("search: q=<material item>, random max_price", [], "", []),
        Row("detail: 2,000 random ids", [], "", []),
    )
    page_miss = Row(
        f"product page miss: {len(page_ids):,} random ids",
        [],
        "Starlette + asyncpg + orjson: same SQL",
        [],
    )
    miss_share: list[float] = []
    page_miss_share: list[float] = []
    try:
        mercato.wait_ready()
        baseline.wait_ready()
        await _copy_first_page_to(redis_url, mercato.base)
        empty = _script(workdir, "empty", "")
        miss_script = _miss_script(workdir, "miss", "/api/v1/products?currency=EUR&")
        raw_miss_script = _miss_script(workdir, "raw-miss", "/list?")
        search_script = _search_script(workdir)
        detail_script = _detail_script(workdir, "detail", "/api/v1/products/", ids)
        page_script = _detail_script(workdir, "page", "/api/v1/products/", page_ids)
        raw_page_script = _detail_script(workdir, "raw-page", "/product/", page_ids)
        for _ in range(rounds):
            hit.mercato.append(wrk_load(wrk(mercato.base + "/api/v1/products", empty)))
            hit.baseline.append(wrk_load(wrk(baseline.base + "/cached", empty)))
            miss_share.append(await _misses(redis_url, mercato.base, miss_script, miss))
            miss.baseline.append(wrk_load(wrk(baseline.base, raw_miss_script)))
            page_miss_share.append(await _misses(redis_url, mercato.base, page_script, page_miss))
            page_miss.baseline.append(wrk_load(wrk(baseline.base, raw_page_script)))
            search.mercato.append(wrk_load(wrk(mercato.base, search_script)))
            detail.mercato.append(wrk_load(wrk(mercato.base, detail_script)))
        rss = rss_mib(mercato.pid)
    finally:
        mercato.stop()
        baseline.stop()
    database_limit = pgbench(database_url, [workdir / "miss.sql"], workdir)
    return Results(
        products=products,
        variants=variants,
        rounds=rounds,
        seed_s=seed_s,
        rows=[hit, miss, page_miss, search, detail],
        pgbench_miss=database_limit,
        miss_share=miss_share,
        page_miss_share=page_miss_share,
        mercato_rss_mib=rss,
        seeded_before=seeded_url is not None,
    )


async def _misses(redis_url: str, base: str, script: Path, row: Row) -> float:
    """A run of `script` on Mercato with the cache retired first, into `row`; the share of
    its cached reads that were misses."""
    await _retire(redis_url)
    before = await _cache_results(base)
    row.mercato.append(wrk_load(wrk(base, script)))
    after = await _cache_results(base)
    misses, hits = after["miss"] - before["miss"], after["hit"] - before["hit"]
    return misses / max(1.0, misses + hits)


async def _retire(redis_url: str) -> None:
    """Retire every cached catalog read (a bump, as a committed change does)."""
    redis = Redis.from_url(redis_url)
    try:
        await RedisCatalogCache(redis).invalidate()
    finally:
        await redis.aclose()


async def _cache_results(base: str) -> dict[str, float]:
    """Mercato's `mercato_catalog_cache_total` counters, by result."""
    async with httpx.AsyncClient(base_url=base) as client:
        text = (await client.get("/metrics")).text
    counts = dict.fromkeys(("hit", "miss", "error"), 0.0)
    for result in counts:
        prefix = f'mercato_catalog_cache_total{{result="{result}"}} '
        for line in text.splitlines():
            if line.startswith(prefix):
                counts[result] = float(line.removeprefix(prefix))
    return counts


def report(results: Results) -> str:
    shares = ", ".join(f"{share:.0%}" for share in results.miss_share)
    page_shares = ", ".join(f"{share:.0%}" for share in results.page_miss_share)
    seeded = (
        "seeded beforehand (`mercato seed catalog`, not timed)"
        if results.seeded_before
        else f"seeded in {results.seed_s:.0f} s (COPY, then VACUUM (ANALYZE))"
    )
    lines = [
        f"{results.products:,} products ({results.variants:,} variants) and 500"
        f" categories, {seeded}."
        f" wrk: {CONNECTIONS} connections, {DURATION_S} s per run, {results.rounds}"
        " interleaved rounds (Mercato, then its baseline); medians, and the range of the"
        f" ratios. Mercato RSS after the runs: {results.mercato_rss_mib:.0f} MiB. Share of"
        f" the cache-miss rows' reads that were misses, per round: {shares} (list),"
        f" {page_shares} (product page).",
        "",
        "| scenario | Mercato req/s | p50 / p99 ms | baseline | baseline req/s | p50 / p99 ms"
        " | ratio (range) |",
        "|---|---:|---:|---|---:|---:|---:|",
    ]
    for row in results.rows:
        ours = median_load(row.mercato)
        theirs = median_load(row.baseline) if row.baseline else None
        ratios = row.ratios
        ratio = (
            f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})"
            if ratios
            else "-"
        )
        lines.append(
            f"| {row.scenario} | {ours.requests_per_s:,.0f} |"
            f" {ours.p50_ms:.1f} / {ours.p99_ms:.1f} |"
            f" {row.baseline_name or '-'} |"
            f" {f'{theirs.requests_per_s:,.0f}' if theirs else '-'} |"
            f" {f'{theirs.p50_ms:.1f} / {theirs.p99_ms:.1f}' if theirs else '-'} |"
            f" {ratio} |"
        )
    database = results.pgbench_miss
    lines.append(
        f"| (database limit) pgbench, cache-miss SQL | | | pgbench |"
        f" {database.requests_per_s:,.0f} | {database.p50_ms:.1f} / {database.p99_ms:.1f} | |"
    )
    search = results.rows[3].mercato
    lines.append(
        "\nSearch p99 per round: " + ", ".join(f"{load.p99_ms:.1f} ms" for load in search) + "."
    )
    errors = sum(load.errors for row in results.rows for load in row.mercato)
    if errors:
        lines.append(f"\nNon-2xx answers from Mercato: {errors}.")
    return "\n".join(lines)
