"""`mercato payments …`: the payments service's process (serve, worker) and its own
migrations."""

from __future__ import annotations

import asyncio
import signal
from typing import TYPE_CHECKING, Annotated

import typer

from mercato.platform.cli import CommandLine, fail
from mercato.platform.failures import StartupError

if TYPE_CHECKING:
    from mercato.platform.config import Settings


def register(cli: CommandLine) -> None:
    payments = cli.group("payments", "The payments service: its API, worker and migrations.")

    @payments.command("serve")
    def serve(
        host: Annotated[str | None, typer.Option(help="Interface to bind")] = None,
        port: Annotated[int | None, typer.Option(help="Port to bind")] = None,
        workers: Annotated[
            int, typer.Option(min=1, max=64, help="Server processes sharing the port")
        ] = 1,
    ) -> None:
        """Serve the payments API (migrate first: `mercato payments migrate up`); with
        `--workers N`, N processes share the port (one that dies is started again)."""
        from mercato.payments.process import create_payments_app
        from mercato.platform.server import bind_listener, serve_in_workers

        settings = _reachable(cli)
        overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
        settings = settings.model_copy(update=overrides)
        try:
            listener = bind_listener(
                settings.host, settings.port, variables="PAYMENTS_HOST, PAYMENTS_PORT"
            )
        except StartupError as error:
            fail(str(error))
        _require_migrated(settings)
        code = serve_in_workers(
            lambda: create_payments_app(settings), settings, listener=listener, workers=workers
        )
        raise typer.Exit(code)

    @payments.command("worker")
    def worker() -> None:
        """The payments outbox relay, its consumers and its jobs (provider webhooks, the
        reconciler, merchant webhooks), until SIGINT/SIGTERM."""
        from mercato.payments.process import MODULES
        from mercato.platform.server import run_worker

        settings = _reachable(cli)
        _require_migrated(settings)

        async def until_signalled() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stop.set)
            await run_worker(settings, MODULES, stop)

        asyncio.run(until_signalled())

    keys = typer.Typer(help="The payments service's field-encryption keys.", no_args_is_help=True)
    payments.add_typer(keys, name="keys")

    @keys.command("rotate")
    def keys_rotate() -> None:
        """A new field-encryption key; queues the re-encryption of merchant endpoints'
        secrets (runs in `mercato payments worker`)."""
        from mercato.payments.keys import rotate_field_keys

        settings = _reachable(cli)
        _require_migrated(settings)
        kid = asyncio.run(rotate_field_keys(settings))
        typer.echo(f"payments field keys rotated: current key id {kid}")
        typer.echo("re-encryption of merchant endpoint secrets queued (`mercato payments worker`)")

    migrate = typer.Typer(help="The payments schema's migrations.", no_args_is_help=True)
    payments.add_typer(migrate, name="migrate")

    @migrate.command("up")
    def migrate_up(revision: Annotated[str, typer.Argument()] = "head") -> None:
        """Upgrade the payments schema to REVISION (default: head)."""
        _migrate(cli, "up", revision)

    @migrate.command("down")
    def migrate_down(revision: Annotated[str, typer.Argument()] = "-1") -> None:
        """Downgrade the payments schema to REVISION (`base` empties it)."""
        _migrate(cli, "down", revision)


def _reachable(cli: CommandLine) -> Settings:
    from mercato.payments.process import service_settings
    from mercato.platform.db.startup import check_database

    settings = service_settings(cli.reachable_settings())
    try:
        check_database(settings)
    except StartupError as error:
        fail(str(error))
    return settings


def _require_migrated(settings: Settings) -> None:
    from mercato.payments.schema import HISTORY
    from mercato.platform.db.startup import require_migrated

    try:
        require_migrated(settings, history=HISTORY)
    except StartupError as error:
        fail(str(error))


def _migrate(cli: CommandLine, direction: str, revision: str) -> None:
    from alembic.util import CommandError

    from mercato.payments.schema import HISTORY
    from mercato.platform.db import migrations

    settings = _reachable(cli)
    assert settings.database.url is not None
    url = settings.database.url.get_secret_value()
    try:
        if direction == "up":
            migrations.upgrade(url, revision, history=HISTORY)
        else:
            migrations.downgrade(url, revision, history=HISTORY)
    except CommandError as error:
        fail(f"migration: {error}")
