"""`make bench`: run the benchmark suites and print Markdown tables for docs/benchmarks.md.

Suites: `events` (NATS_URL enables the NATS rows), `relay` (needs NATS_URL), `identity` and
`catalog` (wrk, pgbench; the catalog needs REDIS_URL), `search` (product search at 16
connections against pgbench on the same statements; REDIS_URL), `payments` (wrk; the payments
service, its worker and the sandbox as processes), `workers` (`serve --workers 2` against
1; wrk), `checkout` (pgbench).
Uses DATABASE_URL (a scratch database is created on that server and dropped after) or an
embedded PostgreSQL. `python -m bench --suites events,identity --sizes 1000 --users 1000000`.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import asyncpg
import uvloop
from sqlalchemy.engine import make_url

from bench import catalog, catalog_search, checkout, events, identity, payments, relay, workers
from mercato.platform.db import migrations
from mercato.platform.db.embedded import EmbeddedPostgres


async def _create(admin_url: str, name: str) -> None:
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


async def _drop(admin_url: str, name: str) -> None:
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument(
        "--suites", default="events,identity,catalog,payments", help="comma-separated"
    )
    parser.add_argument("--sizes", default="1000,10000", help="event counts, comma-separated")
    parser.add_argument("--users", type=int, default=1_000_000, help="seeded accounts")
    parser.add_argument(
        "--identity-database",
        help="a database with --users accounts seeded already (mercato seed users): not timed",
    )
    parser.add_argument("--api-workers", type=int, default=1, help="serve --workers (identity)")
    parser.add_argument("--products", type=int, default=200_000, help="seeded products")
    parser.add_argument(
        "--search-database",
        help="a database with --products products seeded already (mercato seed catalog)",
    )
    parser.add_argument(
        "--catalog-database",
        help="a database with --products products seeded already (mercato seed catalog):"
        " used as is, not timed",
    )
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (catalog, relay)")
    parser.add_argument("--relay-events", type=int, default=20_000, help="events per relay run")
    parser.add_argument("--payments-seconds", type=int, default=10, help="per payments wrk run")
    parser.add_argument("--payments-connections", type=int, default=8, help="payments load")
    parser.add_argument("--webhook-events", type=int, default=1_000, help="per webhook round")
    parser.add_argument("--seconds", type=float, default=10, help="duration of a checkout run")
    return parser.parse_args()


def main() -> int:
    args = _arguments()
    sizes = [int(size) for size in args.sizes.split(",")]
    suites = set(args.suites.split(","))

    embedded = None
    configured = os.environ.get("DATABASE_URL")
    if configured:
        admin_url = make_url(configured).set(drivername="postgresql", database="postgres")
        admin = admin_url.render_as_string(hide_password=False)
    else:
        embedded = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="mercato-bench-")) / "pg")
        admin = embedded.start()
    name = f"mercato_bench_{uuid.uuid4().hex[:8]}"
    url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_create(admin, name))
    try:
        migrations.upgrade(url)
        event_results = (
            asyncio.run(events.run(url, os.environ.get("NATS_URL"), sizes, rounds=args.rounds))
            if "events" in suites
            else []
        )
        nats_url = os.environ.get("NATS_URL")
        if "relay" in suites and nats_url is None:
            sys.exit("the relay suite needs NATS_URL (a JetStream server)")
        relay_results = (
            asyncio.run(relay.run(url, nats_url, events=args.relay_events, rounds=args.rounds))
            if "relay" in suites and nats_url is not None
            else None
        )
        identity_results = (
            asyncio.run(
                identity.run(
                    url,
                    users=args.users,
                    seeded_url=args.identity_database,
                    api_workers=args.api_workers,
                )
            )
            if "identity" in suites
            else None
        )
        workers_results = (
            asyncio.run(workers.run(url, rounds=args.rounds)) if "workers" in suites else None
        )
        catalog_results = (
            asyncio.run(
                catalog.run(
                    url,
                    products=args.products,
                    rounds=args.rounds,
                    seeded_url=args.catalog_database,
                )
            )
            if "catalog" in suites
            else None
        )
        search_results = (
            asyncio.run(
                catalog_search.run(
                    url,
                    products=args.products,
                    seeded_url=args.search_database,
                    rounds=args.rounds,
                )
            )
            if "search" in suites
            else None
        )
        payments_results = (
            payments.run(
                url,
                seconds=args.payments_seconds,
                connections=args.payments_connections,
                rounds=args.rounds,
                webhook_events=args.webhook_events,
            )
            if "payments" in suites
            else None
        )
        checkout_results = (
            # On uvloop, as `mercato serve` runs (uvicorn's loop="auto").
            uvloop.run(checkout.run(url, rounds=args.rounds, duration_s=args.seconds))
            if "checkout" in suites
            else None
        )
    finally:
        asyncio.run(_drop(admin, name))
        if embedded is not None:
            embedded.stop()

    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    today = dt.datetime.now(dt.UTC).date()
    print(f"\n{today} · commit {commit} · `python -m bench {' '.join(sys.argv[1:])}`\n")
    if event_results:
        print(events.report(event_results))
    sections = (
        relay.report(relay_results) if relay_results is not None else "",
        identity.report(identity_results) if identity_results is not None else "",
        workers.report(workers_results) if workers_results is not None else "",
        catalog.report(catalog_results) if catalog_results is not None else "",
        catalog_search.report(search_results) if search_results is not None else "",
        payments.report(payments_results) if payments_results is not None else "",
        checkout.report(checkout_results) if checkout_results is not None else "",
    )
    for section in sections:
        if section:
            print("\n" + section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
