"""The `mercato` command line: run, serve, migrate, db, check."""

from __future__ import annotations

import asyncio
import datetime
import json
import signal
import sys
import time
import uuid
from pathlib import Path
from typing import Annotated, NoReturn

import asyncpg
import nats
import typer
from alembic.util import CommandError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from mercato import composition
from mercato.catalog.cache import RedisCatalogCache
from mercato.catalog.importer import ImportFailed, ImportReport, import_products
from mercato.catalog.seed import CatalogPlan, catalog_is_empty, seed_catalog
from mercato.identity import service as identity_service
from mercato.identity.emails import InvalidEmail, normalise_email
from mercato.identity.errors import WeakPassword
from mercato.identity.keys import rotate_keys
from mercato.identity.principal_cache import RedisPrincipalCache
from mercato.identity.seed import SEEDED_PASSWORD, SeedPlan, seed_users
from mercato.platform.config import Settings, redact_url
from mercato.platform.db import migrations
from mercato.platform.db.database import Database
from mercato.platform.db.embedded import EmbeddedPostgres, EmbeddedPostgresError
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.events import admin
from mercato.platform.events.asyncapi import asyncapi_document
from mercato.platform.jobs.runtime import libpq_url
from mercato.platform.observability.logging import configure_logging
from mercato.platform.redis import connect_redis
from mercato.platform.security.passwords import PasswordHasher
from mercato.server import (
    StartupError,
    check_database,
    database_url,
    embedded_server,
    exit_cleanly_on_sigterm,
    load_settings,
    run_worker,
    serve,
    start_embedded_database,
    with_database_url,
)

EXIT_CONFIG = 2

app = typer.Typer(help="Mercato, a commerce backend.", no_args_is_help=True, add_completion=False)
migrate_app = typer.Typer(help="Apply or roll back database migrations.", no_args_is_help=True)
db_app = typer.Typer(help="The embedded PostgreSQL server (used when DATABASE_URL is unset).")
events_app = typer.Typer(help="The event machinery: contracts, replay, dead letters.")
app.add_typer(migrate_app, name="migrate")
app.add_typer(db_app, name="db", no_args_is_help=True)
seed_app = typer.Typer(help="Generated data for development and benchmarks.")
app.add_typer(seed_app, name="seed", no_args_is_help=True)
catalog_app = typer.Typer(help="Catalog tooling: bulk import, cache retirement.")
app.add_typer(catalog_app, name="catalog", no_args_is_help=True)
keys_app = typer.Typer(help="Access-token signing keys and field-encryption keys.")
app.add_typer(events_app, name="events", no_args_is_help=True)
app.add_typer(keys_app, name="keys", no_args_is_help=True)


def _fail(message: str) -> NoReturn:
    typer.echo(f"mercato: {message}", err=True)
    raise typer.Exit(EXIT_CONFIG)


def _settings() -> Settings:
    try:
        settings = load_settings()
    except StartupError as error:
        _fail(str(error))
    configure_logging(settings.log)
    return settings


@app.command()
def run() -> None:
    """Start everything: embedded PostgreSQL (unless DATABASE_URL), migrations, the API."""
    settings = _settings()
    exit_cleanly_on_sigterm()
    embedded: EmbeddedPostgres | None = None
    try:
        if settings.database.url is None:
            embedded, url = start_embedded_database(settings)
            settings = with_database_url(settings, url)
        check_database(settings)
        migrations.upgrade(database_url(settings))
        demo = asyncio.run(_demo_catalog(settings))
        if demo:
            typer.echo(f"loaded a demo catalog of {demo:,} products (first start)")
        serve(
            settings,
            on_started=lambda: _announce(settings, embedded),
            background=lambda stop, api: run_worker(
                settings, stop, metrics=api.state.event_metrics
            ),
        )
    except StartupError as error:
        _fail(str(error))
    except EmbeddedPostgresError as error:
        _fail(f"embedded PostgreSQL: {error}")
    except KeyboardInterrupt:
        pass
    finally:
        if embedded is not None:
            embedded.stop()
            typer.echo("mercato: embedded PostgreSQL stopped", err=True)


def _announce(settings: Settings, embedded: EmbeddedPostgres | None) -> None:
    base = f"http://{settings.host}:{settings.port}"
    if embedded is not None:
        shown = f"{embedded.url('mercato')} (embedded, data in {embedded.data_dir})"
    else:
        shown = f"{redact_url(database_url(settings))} (DATABASE_URL)"
    typer.echo(
        f"\nMercato is up on {base}\n"
        f"  API docs   {base}/docs\n"
        f"  Try        curl -s {base}/health/ready\n"
        f"  Database   {shown}\n"
        "Press Ctrl-C to stop.\n",
        err=True,
    )


@app.command("serve")
def serve_command(
    host: Annotated[str | None, typer.Option(help="Interface to bind")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind")] = None,
) -> None:
    """Serve the API only, on DATABASE_URL (or a running embedded database)."""
    settings = _settings()
    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    settings = settings.model_copy(update=overrides)
    serve(with_database_url(settings, _reachable_database_url(settings)))


def _reachable_database_url(settings: Settings) -> str:
    """The database URL in use, after a successful round trip; exits 2 otherwise."""
    try:
        url = database_url(settings)
        check_database(settings)
    except StartupError as error:
        _fail(str(error))
    return url


@app.command()
def worker() -> None:
    """Run the outbox relay, the event consumers and the job worker until SIGINT/SIGTERM."""
    settings = _settings()
    settings = with_database_url(settings, _reachable_database_url(settings))

    async def until_signalled() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await run_worker(settings, stop)

    asyncio.run(until_signalled())


@app.command()
def createadmin(
    email: Annotated[str, typer.Option(help="The administrator's email address")],
) -> None:
    """Create an administrator; the password is read from stdin (or prompted for)."""
    settings = _settings()
    settings = with_database_url(settings, _reachable_database_url(settings))
    try:
        address = normalise_email(email)
    except InvalidEmail as error:
        _fail(f"--email: {error}")
    if sys.stdin.isatty():
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\n")
    try:
        user_id = asyncio.run(_create_admin(settings, email=address, password=password))
    except WeakPassword as error:
        _fail("password: " + "; ".join(item["detail"] for item in error.errors))
    typer.echo(f"administrator {address} ready (id {user_id})")


async def _create_admin(settings: Settings, *, email: str, password: str) -> uuid.UUID:
    database = Database.from_settings(settings.database)
    hasher = PasswordHasher(workers=1)
    # An existing account promoted loses its sessions: API processes must drop their cache.
    redis = connect_redis(settings.redis_url) if settings.redis_url is not None else None
    listeners = (RedisPrincipalCache(redis).on_commit,) if redis is not None else ()
    try:
        return await identity_service.create_admin(
            email=email,
            password=password,
            uow=UnitOfWork(database, commit_listeners=listeners),
            hasher=hasher,
        )
    finally:
        hasher.close()
        await database.dispose()
        if redis is not None:
            await redis.aclose()


@keys_app.command("rotate")
def keys_rotate(
    signing: Annotated[bool, typer.Option(help="Rotate the access-token signing keys")] = True,
    fields: Annotated[bool, typer.Option(help="Rotate the field-encryption keys")] = True,
) -> None:
    """Rotate key rings (then restart the API processes); queues field re-encryption."""
    if not signing and not fields:
        _fail("nothing to rotate: leave --signing or --fields on")
    settings = _settings()
    settings = with_database_url(settings, _reachable_database_url(settings))
    rotated = asyncio.run(_rotate_keys(settings, signing=signing, fields=fields))
    for ring, kid in rotated.items():
        typer.echo(f"{ring} keys rotated: current key id {kid}")
    if fields:
        typer.echo("re-encryption of personal fields queued (runs in `mercato worker`)")


async def _rotate_keys(settings: Settings, *, signing: bool, fields: bool) -> dict[str, str]:
    database = Database.from_settings(settings.database)
    try:
        return await rotate_keys(
            settings=settings, uow=UnitOfWork(database), signing=signing, fields=fields
        )
    finally:
        await database.dispose()


@seed_app.command("users")
def seed_users_command(
    count: Annotated[int, typer.Option(min=1, max=10_000_000, help="How many accounts")] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed, the same users")] = 1,
    password: Annotated[
        str, typer.Option(help="The password every generated account gets")
    ] = SEEDED_PASSWORD,
) -> None:
    """Load generated accounts (COPY, in batches) for development and benchmarks."""
    settings = _settings()
    if settings.is_production:
        _fail("refusing to seed generated accounts in production")
    url = _reachable_database_url(settings)
    typer.echo(f"hashing the shared password once, then loading {count:,} accounts")
    password_hash = PasswordHasher(workers=1)
    try:
        plan = SeedPlan(
            count=count, seed=seed, password_hash=asyncio.run(password_hash.hash(password))
        )
    finally:
        password_hash.close()
    started = time.monotonic()
    loaded = asyncio.run(_seed_users(url, plan))
    elapsed = time.monotonic() - started
    typer.echo(f"{loaded:,} accounts loaded in {elapsed:.1f} s ({loaded / elapsed:,.0f}/s)")


async def _seed_users(url: str, plan: SeedPlan) -> int:
    connection = await asyncpg.connect(libpq_url(url))
    try:
        with Progress(
            TextColumn("users"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            transient=False,
        ) as progress:
            task = progress.add_task("users", total=plan.count)
            return await seed_users(
                connection, plan, progress=lambda done: progress.advance(task, done)
            )
    finally:
        await connection.close()


@seed_app.command("catalog")
def seed_catalog_command(
    products: Annotated[int, typer.Option(min=1, max=5_000_000)] = 200_000,
    categories: Annotated[int, typer.Option(min=1, max=100_000)] = 500,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed, the same catalog")] = 1,
) -> None:
    """Load a generated catalog (COPY, in batches): categories, products, stock."""
    settings = _settings()
    if settings.is_production:
        _fail("refusing to seed a generated catalog in production")
    url = _reachable_database_url(settings)
    plan = CatalogPlan(products=products, categories=categories, seed=seed)
    started = time.monotonic()
    loaded = asyncio.run(_seed_catalog(settings, url, plan, show_progress=True))
    elapsed = time.monotonic() - started
    typer.echo(f"{loaded[0]:,} categories and {loaded[1]:,} products loaded in {elapsed:.1f} s")


async def _seed_catalog(
    settings: Settings, url: str, plan: CatalogPlan, *, show_progress: bool
) -> tuple[int, int]:
    connection = await asyncpg.connect(libpq_url(url))
    try:
        with Progress(
            TextColumn("products"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            disable=not show_progress,
        ) as progress:
            task = progress.add_task("products", total=plan.products)
            loaded = await seed_catalog(
                connection, plan, progress=lambda done: progress.advance(task, done)
            )
    finally:
        await connection.close()
    await _retire_cached_catalog(settings)
    return loaded


async def _retire_cached_catalog(settings: Settings) -> None:
    """Rows loaded by COPY bypass the use cases: retire what API processes cached."""
    if settings.redis_url is None:
        return
    redis = connect_redis(settings.redis_url)
    try:
        await RedisCatalogCache(redis).invalidate()
    finally:
        await redis.aclose()


async def _demo_catalog(settings: Settings) -> int:
    """On a first start (an empty catalog), load a small demo catalog."""
    url = database_url(settings)
    connection = await asyncpg.connect(libpq_url(url))
    try:
        if settings.catalog.demo_products == 0 or not await catalog_is_empty(connection):
            return 0
    finally:
        await connection.close()
    plan = CatalogPlan(products=settings.catalog.demo_products, categories=40, seed=1)
    return (await _seed_catalog(settings, url, plan, show_progress=False))[1]


@catalog_app.command("import")
def catalog_import(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help=".csv or .jsonl")],
    batch: Annotated[int, typer.Option(min=1, max=50_000, help="Products per transaction")] = 1000,
) -> None:
    """Import products; the file is validated whole first (errors by line, nothing written)."""
    settings = _settings()
    settings = with_database_url(settings, _reachable_database_url(settings))
    try:
        report = asyncio.run(_import_catalog(settings, path, batch=batch))
    except ImportFailed as failure:
        for error in failure.report.errors:
            typer.echo(error, err=True)
        typer.echo(
            f"import failed: {failure.report.imported:,} of {failure.report.lines:,} products"
            " imported",
            err=True,
        )
        raise typer.Exit(1) from None
    typer.echo(f"{report.imported:,} products imported from {report.lines:,} lines")


async def _import_catalog(settings: Settings, path: Path, *, batch: int) -> ImportReport:
    database = Database.from_settings(settings.database)
    try:
        with Progress(TextColumn("products"), BarColumn(), MofNCompleteColumn()) as progress:
            task = progress.add_task("products", total=None)
            return await import_products(
                path, database, batch=batch, progress=lambda done: progress.advance(task, done)
            )
    finally:
        await database.dispose()
        await _retire_cached_catalog(settings)


@catalog_app.command("retire-cache")
def catalog_retire_cache() -> None:
    """Retire every cached catalog read in Redis (entries and fast-path aliases)."""
    settings = _settings()
    if settings.redis_url is None:
        typer.echo("no REDIS_URL: each process's in-memory cache lives and dies with it")
        return
    asyncio.run(_retire_cached_catalog(settings))
    typer.echo("catalog cache retired")


@app.command()
def check() -> None:
    """Validate the configuration and reach the database; exit 2 with the reason if not."""
    settings = _settings()
    url = _reachable_database_url(settings)
    current = asyncio.run(migrations.current_revision(url))
    head = migrations.head_revision()
    state = "up to date" if current == head else f"at {current or 'base (empty)'}, head is {head}"
    typer.echo(f"ok: environment {settings.env.value}; database {redact_url(url)}; schema {state}")


@migrate_app.command("up")
def migrate_up(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Upgrade the schema to REVISION (default: head)."""
    url = _reachable_database_url(_settings())
    try:
        migrations.upgrade(url, revision)
    except CommandError as error:
        _fail(f"migration: {error}")


@migrate_app.command("down")
def migrate_down(revision: Annotated[str, typer.Argument()] = "-1") -> None:
    """Downgrade the schema to REVISION (default: one step; `base` empties it)."""
    url = _reachable_database_url(_settings())
    try:
        migrations.downgrade(url, revision)
    except CommandError as error:
        _fail(f"migration: {error}")


@db_app.command("start")
def db_start() -> None:
    """Start the embedded PostgreSQL in the background and print its URL."""
    settings = _settings()
    try:
        _, url = start_embedded_database(settings)
    except EmbeddedPostgresError as error:
        _fail(f"embedded PostgreSQL: {error}")
    typer.echo(url)


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded PostgreSQL (data is kept)."""
    settings = _settings()
    try:
        embedded_server(settings).stop()
    except EmbeddedPostgresError as error:
        _fail(f"embedded PostgreSQL: {error}")


@db_app.command("url")
def db_url() -> None:
    """Print the URL of the running embedded PostgreSQL."""
    settings = _settings()
    try:
        typer.echo(embedded_server(settings).url("mercato"))
    except EmbeddedPostgresError as error:
        _fail(str(error))


@events_app.command("asyncapi")
def events_asyncapi() -> None:
    """Print the AsyncAPI 3.0 document of every event contract (JSON)."""
    document = asyncapi_document(composition.event_catalog())
    typer.echo(json.dumps(document, indent=2, sort_keys=True))


@events_app.command("replay")
def events_replay(
    consumer: Annotated[str, typer.Option(help="Consumer group to rewind")],
    since: Annotated[
        datetime.datetime, typer.Option("--from", help="Replay events created since (ISO 8601)")
    ],
) -> None:
    """Deliver again, to one consumer group, every event created since a time."""
    settings = _settings()
    settings = with_database_url(settings, _reachable_database_url(settings))
    start = since if since.tzinfo else since.replace(tzinfo=datetime.UTC)
    try:
        count = asyncio.run(_replay(settings, consumer=consumer, since=start))
    except LookupError as error:
        _fail(str(error))
    typer.echo(f"{consumer}: rewound to {start.isoformat()}; {count} events will be redelivered")


async def _replay(settings: Settings, *, consumer: str, since: datetime.datetime) -> int:
    database = Database.from_settings(settings.database)
    try:
        forgotten = await admin.forget_processed_since(database, consumer=consumer, since=since)
        if settings.events.transport == "postgres":
            return await admin.rewind_postgres_consumer(database, consumer=consumer, since=since)
        groups = {group.name: group for group in composition.consumer_registry().groups()}
        if consumer not in groups:
            raise LookupError(f"no consumer group named {consumer!r}")
        client = await nats.connect(settings.events.nats_url, connect_timeout=2)
        try:
            await admin.rewind_nats_consumer(
                client.jetstream(),
                consumer=consumer,
                domains=groups[consumer].domains(),
                partitions=settings.events.nats_partitions,
                since=since,
            )
        finally:
            await client.drain()
        return forgotten
    finally:
        await database.dispose()


@events_app.command("dead-letters")
def events_dead_letters(
    consumer: Annotated[str | None, typer.Option(help="Only this consumer group")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """List the most recent dead-lettered events."""
    settings = _settings()
    settings = with_database_url(settings, _reachable_database_url(settings))

    async def read() -> list[admin.DeadLetterView]:
        database = Database.from_settings(settings.database)
        try:
            return await admin.list_dead_letters(database, consumer=consumer, limit=limit)
        finally:
            await database.dispose()

    letters = asyncio.run(read())
    if not letters:
        typer.echo("no dead letters")
    for letter in letters:
        typer.echo(
            f"{letter.id}\t{letter.created_at:%Y-%m-%d %H:%M:%S}\t{letter.consumer}\t"
            f"{letter.event_name}\t{letter.event_id}\tattempts={letter.attempts}\t{letter.error}"
        )


def main() -> None:
    app(prog_name="mercato")


if __name__ == "__main__":
    main()
