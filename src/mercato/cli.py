"""The `mercato` command line: run, serve, migrate, db, check."""

from __future__ import annotations

import asyncio
from typing import Annotated, NoReturn

import typer
from alembic.util import CommandError

from mercato.platform.config import Settings, redact_url
from mercato.platform.db import migrations
from mercato.platform.db.embedded import EmbeddedPostgres, EmbeddedPostgresError
from mercato.platform.observability.logging import configure_logging
from mercato.server import (
    StartupError,
    check_database,
    database_url,
    embedded_server,
    exit_cleanly_on_sigterm,
    load_settings,
    serve,
    start_embedded_database,
    with_database_url,
)

EXIT_CONFIG = 2

app = typer.Typer(help="Mercato, a commerce backend.", no_args_is_help=True, add_completion=False)
migrate_app = typer.Typer(help="Apply or roll back database migrations.", no_args_is_help=True)
db_app = typer.Typer(help="The embedded PostgreSQL server (used when DATABASE_URL is unset).")
app.add_typer(migrate_app, name="migrate")
app.add_typer(db_app, name="db", no_args_is_help=True)


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
        serve(settings, on_started=lambda: _announce(settings, embedded))
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


def main() -> None:
    app(prog_name="mercato")


if __name__ == "__main__":
    main()
