"""Product search (`GET /api/v1/products?q=…`) at 16 connections, against pgbench running
the very statements Mercato sends.

Data: `mercato seed catalog` (N products, 1-12 variants each, 500 categories), or a
database seeded already (`--search-database`: its seeding is not timed again).
Queries: two words drawn from the seed's vocabulary (materials, items, colours, brands,
adjectives), and a share of them with a misspelt word or a word no product has; each is
classed by the mode its first page is answered in (`full-text`: the words match; `typo`:
they match nothing as typed, the typo-tolerant branch answers). Every request also has a
random `max_price` and `currency=EUR`, as a shop's search box with a price slider sends.

Mercato runs as `mercato serve` (Redis cache, rate limits and access lines off); wrk: 2
threads, 16 connections, 10 s a run. The database limit is pgbench (16 clients, 2
threads, `-M prepared`, as asyncpg prepares) running, per transaction, the one statement
Mercato sends for a request (compiled by the same code, for the same shape), with the
same queries and the same `max_price` range. pgbench draws the query from an array in one
more (trivial) statement, as its variables cannot hold text otherwise.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import asyncpg
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg

from bench.catalog import _retire, _script, median_load
from bench.support import (
    DURATION_S,
    Load,
    Server,
    lua_list,
    pgbench_load,
    require_tool,
    rss_mib,
    wrk,
    wrk_load,
)
from mercato.catalog.reads import ProductList, product_statement
from mercato.catalog.schemas import ProductListParams
from mercato.catalog.seed import (
    ADJECTIVES,
    BRANDS,
    COLOURS,
    DEPARTMENTS,
    MATERIALS,
    CatalogPlan,
    seed_catalog,
)
from mercato.platform.db import migrations
from mercato.platform.db.compiled import compile_query
from mercato.platform.jobs.runtime import libpq_url

CONNECTIONS = 16
MIN_PRICE, MAX_PRICE = 1_000, 1_000_000
QUERIES = 120
# Queries with a misspelt word, and with a word no product has.
MISSPELT_SHARE, UNKNOWN_SHARE = 0.25, 0.1
UNKNOWN_WORDS = ("trampoline", "zeppelin", "harmonica", "snorkel", "typewriter", "accordion")
MODES = ("full-text", "typo")


def vocabulary() -> list[str]:
    """The seed's words (product names are brand, adjective, material, item; colours are
    in descriptions and options)."""
    phrases = [*MATERIALS, *COLOURS, *ADJECTIVES, *BRANDS]
    phrases += [item for items in DEPARTMENTS.values() for item in items]
    words = {word.lower() for phrase in phrases for word in phrase.split()}
    return sorted(word for word in words if word.isalpha() and len(word) > 2)


def misspell(word: str, rng: random.Random) -> str:
    """A letter dropped, doubled or two swapped, as people type."""
    at = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(3)
    if kind == 0:
        return word[:at] + word[at + 1 :]
    if kind == 1:
        return word[:at] + word[at] + word[at:]
    return word[: at - 1] + word[at] + word[at - 1] + word[at + 1 :]


def queries(count: int = QUERIES, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    words = vocabulary()
    drawn = []
    for _ in range(count):
        first, second = rng.sample(words, 2)
        roll = rng.random()
        if roll < MISSPELT_SHARE:
            first = misspell(first, rng) if len(first) > 4 else first
            second = misspell(second, rng) if len(second) > 4 else second
        elif roll < MISSPELT_SHARE + UNKNOWN_SHARE:
            second = rng.choice(UNKNOWN_WORDS)
        drawn.append(f"{first} {second}")
    return drawn


def search_sql() -> str:
    """The statement of a first search page, as Mercato compiles it, with pgbench's
    variables: `:q` the words, `:mp` the max_price (EUR, active: literals)."""
    params = ProductListParams.model_validate(
        {"currency": "EUR", "q": "two words", "max_price": MAX_PRICE}
    )
    listing = ProductList.plan(params, default_currency="EUR")
    query = compile_query(
        product_statement(
            listing.criteria, sort=listing.sort, paged=False, limit=params.limit, fall_back=True
        ),
        PGDialect_asyncpg(),  # type: ignore[no-untyped-call]
    )
    variables = {"q": ":q", "currency": "'EUR'", "status": "'active'", "max_price": ":mp"}
    sql = query.sql
    for position in range(len(query.names), 0, -1):
        sql = sql.replace(f"${position}", variables[query.names[position - 1]])
    return sql


def pgbench_script(path: Path, words: list[str], sql: str) -> Path:
    array = "ARRAY[" + ", ".join("'" + q.replace("'", "''") + "'" for q in words) + "]"
    path.write_text(
        f"\\set n random(1, {len(words)})\n"
        f"\\set mp random({MIN_PRICE}, {MAX_PRICE})\n"
        f"SELECT ({array})[:n] AS q \\gset\n"
        f"{' '.join(sql.split())};\n"
    )
    return path


def wrk_script(workdir: Path, name: str, words: list[str]) -> Path:
    encoded = [quote(q) for q in words]
    return _script(
        workdir,
        name,
        f"local queries = {lua_list(encoded)}\n"
        "request = function()\n"
        "  local q = queries[math.random(#queries)]\n"
        '  return wrk.format("GET", "/api/v1/products?currency=EUR&q=" .. q .. '
        f'"&max_price=" .. math.random({MIN_PRICE}, {MAX_PRICE}))\n'
        "end\n",
    )


def run_pgbench(database_url: str, script: Path, workdir: Path) -> Load:
    logs = workdir / "pgbench-log"
    logs.mkdir(exist_ok=True)
    for old in logs.iterdir():
        old.unlink()
    arguments = ["pgbench", "-n", "-M", "prepared", f"-c{CONNECTIONS}", "-j2"]
    arguments += [f"-T{DURATION_S}", "-l", f"--log-prefix={logs / 'tx'}", "-f", str(script)]
    arguments.append(libpq_url(database_url))
    output = subprocess.run(arguments, capture_output=True, text=True, check=True).stdout
    return pgbench_load(output, logs)


@dataclass(frozen=True)
class Results:
    products: int
    seed_s: float
    rounds: int
    queries: dict[str, list[str]]
    mercato: dict[str, list[Load]]
    database: dict[str, list[Load]]
    mercato_rss_mib: float
    vocabulary_words: int


async def _seed(database_url: str, products: int) -> float:
    connection = await asyncpg.connect(libpq_url(database_url))
    try:
        started = time.monotonic()
        await seed_catalog(
            connection, CatalogPlan(products=products, categories=500), progress=lambda _: None
        )
        return time.monotonic() - started
    finally:
        await connection.close()


async def _classify(database_url: str, drawn: list[str]) -> tuple[dict[str, list[str]], int]:
    """Queries by the mode their first page is answered in (at the highest max_price),
    and the size of the vocabulary."""
    connection = await asyncpg.connect(libpq_url(database_url))
    try:
        by_mode: dict[str, list[str]] = {mode: [] for mode in MODES}
        for q in drawn:
            found = await connection.fetchval(
                "SELECT EXISTS (SELECT 1 FROM catalog_product WHERE status = 'active'"
                " AND deleted_at IS NULL AND search @@ websearch_to_tsquery('simple', $1))",
                q,
            )
            by_mode["full-text" if found else "typo"].append(q)
        words = await connection.fetchval("SELECT count(*) FROM catalog_search_word")
        return by_mode, int(words)
    finally:
        await connection.close()


async def run(
    database_url: str, *, products: int, seeded_url: str | None = None, rounds: int = 3
) -> Results:
    require_tool("wrk")
    require_tool("pgbench")
    redis_url = os.environ.get("REDIS_URL")
    if redis_url is None:
        raise SystemExit("the search benchmark needs REDIS_URL (the list's cache)")
    workdir = Path(tempfile.mkdtemp(prefix="mercato-bench-search-"))
    seed_s = 0.0
    if seeded_url is not None:
        database_url = seeded_url
        # Alembic runs its own event loop: not in this one.
        await asyncio.to_thread(migrations.upgrade, database_url)
    else:
        seed_s = await _seed(database_url, products)
    await _retire(redis_url)
    drawn = queries()
    by_mode, words = await _classify(database_url, drawn)
    by_mode["mixed"] = drawn
    sql = search_sql()
    mercato: dict[str, list[Load]] = {mode: [] for mode in by_mode}
    database: dict[str, list[Load]] = {mode: [] for mode in by_mode}
    server = Server(database_url, workdir, extra_env={"REDIS_URL": redis_url})
    try:
        server.wait_ready()
        for _ in range(rounds):
            for mode, words_of_mode in by_mode.items():
                script = wrk_script(workdir, mode, words_of_mode)
                mercato[mode].append(wrk_load(wrk(server.base, script, connections=CONNECTIONS)))
                bench_script = pgbench_script(workdir / f"{mode}.sql", words_of_mode, sql)
                database[mode].append(run_pgbench(database_url, bench_script, workdir))
        rss = rss_mib(server.pid)
    finally:
        server.stop()
    return Results(
        products=products,
        seed_s=seed_s,
        rounds=rounds,
        queries=by_mode,
        mercato=mercato,
        database=database,
        mercato_rss_mib=rss,
        vocabulary_words=words,
    )


def report(results: Results) -> str:
    lines = [
        f"{results.products:,} products"
        + (f" seeded in {results.seed_s:.0f} s" if results.seed_s else " (seeded beforehand)")
        + f"; vocabulary {results.vocabulary_words:,} words; wrk and pgbench at"
        f" {CONNECTIONS} connections, {DURATION_S} s a run, {results.rounds} interleaved rounds;"
        f" medians, and the range of the ratios. Mercato RSS after the runs:"
        f" {results.mercato_rss_mib:.0f} MiB.",
        "",
        "| queries | Mercato req/s | p50 / p99 ms | pgbench tx/s | p50 / p99 ms | ratio (range) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for mode, loads in results.mercato.items():
        ours, theirs = median_load(loads), median_load(results.database[mode])
        ratios = [
            a.requests_per_s / b.requests_per_s
            for a, b in zip(loads, results.database[mode], strict=True)
        ]
        lines.append(
            f"| {mode} ({len(results.queries[mode])} queries) | {ours.requests_per_s:,.0f} |"
            f" {ours.p50_ms:.1f} / {ours.p99_ms:.1f} | {theirs.requests_per_s:,.0f} |"
            f" {theirs.p50_ms:.1f} / {theirs.p99_ms:.1f} |"
            f" {statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f}) |"
        )
    lines.append(
        "\nMercato p99 per round: "
        + "; ".join(
            f"{mode} " + ", ".join(f"{load.p99_ms:.1f}" for load in loads)
            for mode, loads in results.mercato.items()
        )
        + " ms."
    )
    errors = sum(load.errors for loads in results.mercato.values() for load in loads)
    if errors:
        lines.append(f"\nNon-2xx answers from Mercato: {errors}.")
    examples = {mode: ", ".join(f"`{q}`" for q in qs[:4]) for mode, qs in results.queries.items()}
    lines.append(f"\nExamples: full-text {examples['full-text']}; typo {examples['typo']}.")
    return "\n".join(lines)
