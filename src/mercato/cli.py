"""The `mercato` command line: `run`, `serve` and `worker` here; the platform's commands
(`check`, `migrate`, `db`, `events`) and every module's own (`createadmin`, `seed`,
`catalog`, `keys`, ...) are added by `platform.cli.register` and each module's `cli`."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer

from mercato.modules import MODULES
from mercato.platform import cli as platform_cli
from mercato.platform.cli import CommandLine, fail
from mercato.platform.config import Settings, redact_url
from mercato.sandbox import cli as sandbox_cli

app = typer.Typer(help="Mercato, a commerce backend.", no_args_is_help=True, add_completion=False)
command_line = CommandLine(app, MODULES)


@app.command()
def run() -> None:
    """Start everything: embedded PostgreSQL (unless DATABASE_URL), migrations, the API."""
    from mercato.app import create_app
    from mercato.platform.db import migrations
    from mercato.platform.db.embedded import EmbeddedPostgres, EmbeddedPostgresError
    from mercato.platform.server import (
        StartupError,
        build_worker,
        check_database,
        database_url,
        exit_cleanly_on_sigterm,
        serve,
        start_embedded_database,
        with_database_url,
    )

    settings = command_line.settings()
    exit_cleanly_on_sigterm()
    embedded: EmbeddedPostgres | None = None
    try:
        if settings.database.url is None:
            embedded, url = start_embedded_database(settings)
            settings = with_database_url(settings, url)
        check_database(settings)
        migrations.upgrade(database_url(settings))
        for line in _load_demo_data(settings):
            typer.echo(line)
        serve(
            create_app(settings),
            settings,
            on_started=lambda: _announce(settings, embedded),
            background=lambda stop, runtime: build_worker(runtime).run(stop),
        )
    except StartupError as error:
        fail(str(error))
    except EmbeddedPostgresError as error:
        fail(f"embedded PostgreSQL: {error}")
    except KeyboardInterrupt:
        pass
    finally:
        if embedded is not None:
            embedded.stop()
            typer.echo("mercato: embedded PostgreSQL stopped", err=True)


def _load_demo_data(settings: Settings) -> list[str]:
    """Each module's demo data, on a first start (what they report)."""
    from mercato.platform.runtime import open_runtime

    async def load() -> list[str]:
        lines = []
        async with open_runtime(settings, MODULES) as runtime:
            for module in MODULES:
                if module.demo is not None and (line := await module.demo(runtime)):
                    lines.append(line)
        return lines

    return asyncio.run(load())


def _announce(settings: Settings, embedded: object | None) -> None:
    from mercato.platform.db.embedded import EmbeddedPostgres
    from mercato.platform.server import EMBEDDED_DATABASE, database_url

    base = f"http://{settings.host}:{settings.port}"
    if isinstance(embedded, EmbeddedPostgres):
        shown = f"{embedded.url(EMBEDDED_DATABASE)} (embedded, data in {embedded.data_dir})"
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
    from mercato.app import create_app
    from mercato.platform.server import serve

    settings = command_line.reachable_settings()
    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    settings = settings.model_copy(update=overrides)
    serve(create_app(settings), settings)


@app.command()
def worker() -> None:
    """Run the outbox relay, the event consumers and the job worker until SIGINT/SIGTERM."""
    from mercato.platform.server import run_worker

    settings = command_line.reachable_settings()

    async def until_signalled() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await run_worker(settings, MODULES, stop)

    asyncio.run(until_signalled())


platform_cli.register(command_line)
for _module in MODULES:
    if _module.cli is not None:
        _module.cli(command_line)
# Services of their own, with their own settings: mounted as they are.
app.add_typer(sandbox_cli.app, name="sandbox")


def main() -> None:
    app(prog_name="mercato")


if __name__ == "__main__":
    main()
