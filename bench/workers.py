"""`mercato serve --workers 2` against `--workers 1`, same routes, interleaved rounds.

Routes: `GET /health/live` (the HTTP stack alone: middleware, routing, JSON),
`GET /api/v1/users/me` with a bearer token (Ed25519 verification, the session check in
Redis when REDIS_URL is set, one statement), and the catalog's cache-miss list (issue 15's
"miss path": `?currency=EUR&min_price=<random>&limit=<random>` over `CATALOG_PRODUCTS`
seeded products, the catalog cache retired before each run, as in `bench/catalog.py`).
wrk: 2 threads, 64 connections, 10 s. Each round starts the server afresh (1 worker, then
2) and ends by reading the RSS of every server process. On a 2-core machine wrk and
PostgreSQL share the cores with the workers, so the ceiling of the ratio is below 2.
"""

from __future__ import annotations

import os
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.catalog import _miss_script, _retire, _seed
from bench.identity import _admin_token, _create_admin, _me_script
from bench.support import Load, Server, child_pids, require_tool, rss_mib, wrk, wrk_load

CONNECTIONS = 64
CATALOG_PRODUCTS = 20_000
MISS_ROUTE = "/api/v1/products?currency=EUR&"
ROUTES = ("/health/live", "/api/v1/users/me", MISS_ROUTE)


@dataclass(frozen=True)
class WorkersResult:
    route: str
    one: list[Load]
    two: list[Load]

    @property
    def ratios(self) -> list[float]:
        return [
            two.requests_per_s / one.requests_per_s
            for one, two in zip(self.one, self.two, strict=True)
        ]

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)


@dataclass(frozen=True)
class Results:
    routes: list[WorkersResult]
    rss_one: list[float]
    rss_two: list[float]


async def run(database_url: str, *, rounds: int) -> Results:
    require_tool("wrk")
    redis_url = os.environ.get("REDIS_URL")
    if redis_url is None:
        raise SystemExit("the workers benchmark needs REDIS_URL (sessions, the catalog cache)")
    workdir = Path(tempfile.mkdtemp(prefix="mercato-bench-workers-"))
    _create_admin(database_url, workdir)
    await _seed(database_url, CATALOG_PRODUCTS, seeded=False)
    miss = _miss_script(workdir, "miss", MISS_ROUTE)
    loads: dict[tuple[int, str], list[Load]] = {(n, r): [] for n in (1, 2) for r in ROUTES}
    rss: dict[int, list[float]] = {1: [], 2: []}
    empty = workdir / "plain.lua"
    empty.write_text("")
    for _ in range(rounds):
        for workers in (1, 2):
            server = Server(
                database_url,
                workdir,
                command=("-m", "mercato", "serve", "--workers", str(workers)),
            )
            try:
                server.wait_ready()
                token = await _admin_token(server.base)
                me = _me_script(workdir, token)
                for route in ROUTES:
                    script = {"/api/v1/users/me": me, MISS_ROUTE: miss}.get(route, empty)
                    url = server.base + ("" if route == MISS_ROUTE else route)
                    # A primer, then the measured run (on misses: the cache retired first).
                    wrk_load(wrk(url, script, connections=8))
                    if route == MISS_ROUTE:
                        await _retire(redis_url)
                    loads[(workers, route)].append(
                        wrk_load(wrk(url, script, connections=CONNECTIONS))
                    )
                pids = child_pids(server.pid) if workers > 1 else [server.pid]
                rss[workers].extend(rss_mib(pid) for pid in pids)
            finally:
                server.stop()
    return Results(
        routes=[WorkersResult(r, loads[(1, r)], loads[(2, r)]) for r in ROUTES],
        rss_one=rss[1],
        rss_two=rss[2],
    )


def report(results: Results) -> str:
    lines = [
        f"wrk: 2 threads, {CONNECTIONS} connections, 10 s after an 8-connection primer;"
        f" {len(results.routes[0].one)} interleaved rounds, medians.",
        "",
        "| route | 1 worker req/s | p50 / p99 ms | 2 workers req/s | p50 / p99 ms |"
        " 2 ÷ 1 (median of rounds, range) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for result in results.routes:
        one, two = _median(result.one), _median(result.two)
        ratios = result.ratios
        route = "catalog cache miss (list)" if result.route == MISS_ROUTE else result.route
        lines.append(
            f"| {route} | {one.requests_per_s:,.0f} |"
            f" {one.p50_ms:.1f} / {one.p99_ms:.1f} | {two.requests_per_s:,.0f} |"
            f" {two.p50_ms:.1f} / {two.p99_ms:.1f} |"
            f" {result.ratio:.2f} ({min(ratios):.2f}-{max(ratios):.2f}) |"
        )
    lines.append(
        f"\nRSS after the runs: 1 worker {_span(results.rss_one)} MiB;"
        f" each of 2 workers {_span(results.rss_two)} MiB."
    )
    return "\n".join(lines)


def _median(loads: list[Load]) -> Load:
    ordered = sorted(loads, key=lambda load: load.requests_per_s)
    return ordered[len(ordered) // 2]


def _span(values: list[float]) -> str:
    return f"{min(values):.0f}-{max(values):.0f}" if values else "-"
