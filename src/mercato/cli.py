"""The `mercato` command line: `run`, `serve`, `worker` and `openapi` here; the platform's
commands (`check`, `migrate`, `db`, `events`) and every module's own (`createadmin`, `seed`,
`catalog`, `keys`, ...) are added by `platform.cli.register` and each module's `cli`.

Importing this module is cheap (`mercato --help` answers in well under a second): the web
stack, SQLAlchemy and the services of their own (`payments`, `sandbox`, mounted lazily)
are imported by the commands that use them. Expected failures end in one line on stderr
and exit code 2, never a traceback (`main`).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, ClassVar

import typer

from mercato import __version__
from mercato.modules import MODULES
from mercato.platform import cli as platform_cli
from mercato.platform.cli import CommandLine, LazyGroup, LazyGroups, fail
from mercato.platform.config import Environment
from mercato.platform.failures import StartupError

if TYPE_CHECKING:
    from typer import _click as click

    from mercato.platform.config import Settings
    from mercato.platform.db.embedded import EmbeddedPostgres
    from mercato.platform.db.migrations import History

PAYMENTS_HELP = "The payments service: its API, worker and migrations."
SANDBOX_HELP = "The sandbox payment provider: a simulated card processor for development and tests."
CLUSTER_HELP = "Mercato scaled out on this machine: nginx, N processes, primary + replica."
EXIT_INTERRUPTED = 130


def _payments_group() -> click.Command:
    from mercato.payments.cli import register

    register(command_line)
    return typer.main.get_command(command_line.group("payments", PAYMENTS_HELP))


def _sandbox_group() -> click.Command:
    from mercato.sandbox import cli as sandbox_cli

    return typer.main.get_command(sandbox_cli.app)


def _cluster_group() -> click.Command:
    from mercato.cluster import cli as cluster_cli

    return typer.main.get_command(cluster_cli.app)


class _Commands(LazyGroups):
    lazy: ClassVar[Mapping[str, LazyGroup]] = {
        "cluster": LazyGroup(CLUSTER_HELP, _cluster_group),
        "payments": LazyGroup(PAYMENTS_HELP, _payments_group),
        "sandbox": LazyGroup(SANDBOX_HELP, _sandbox_group),
    }


app = typer.Typer(
    cls=_Commands,
    help="Mercato, a commerce backend.",
    no_args_is_help=True,
    add_completion=False,
    # An unexpected error's traceback must not print local variables (URLs, tokens).
    pretty_exceptions_show_locals=False,
    # Docstrings are reflowed to the terminal's width (and `code` is shown as code).
    rich_markup_mode="markdown",
)
command_line = CommandLine(app, MODULES)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"mercato {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", is_eager=True, callback=_print_version
        ),
    ] = False,
) -> None:
    """Mercato, a commerce backend."""


def say(message: str) -> None:
    """A progress line of `mercato run` on stderr (logs go there too)."""
    typer.echo(f"mercato: {message}", err=True)


@contextmanager
def _step(message: str) -> Iterator[None]:
    """Say what is starting at once, and how long it took once done."""
    say(f"{message}…")
    started = time.monotonic()
    yield
    say(f"{message}: done in {time.monotonic() - started:.1f} s")


@app.command()
def run(
    host: Annotated[str | None, typer.Option(help="Interface to bind [MERCATO_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind [MERCATO_PORT]")] = None,
) -> None:
    """Start everything: database, migrations, demo data, the API, the payments service,
    the sandbox payment provider and their workers.

    The embedded PostgreSQL (data in MERCATO_DATA_DIR) unless DATABASE_URL is set; the
    migrations of the API and of the payments service (its own schema); demo data on a
    first start; then every service, each on its own port, in one process. Ctrl-C drains
    the requests in flight and stops the embedded database.
    """
    settings = command_line.override(host=host, port=port)
    say(f"starting ({settings.env.value}) on {settings.host}:{settings.port}")
    from mercato import stack as dev_stack
    from mercato.platform.db.embedded import EmbeddedPostgresError
    from mercato.platform.server import exit_cleanly_on_sigterm, serve_all

    exit_cleanly_on_sigterm()
    embedded: EmbeddedPostgres | None = None
    try:
        # Before any database work: a port in use is said at once, not after migrations.
        listeners = dev_stack.bind_listeners(settings)
        settings, embedded = _database(settings)
        stack = dev_stack.assemble(settings)
        for url, history in dev_stack.histories(stack):
            _migrate(url, history)
        _load_demo_data(stack.api)
        serve_all(
            dev_stack.services(stack, listeners),
            on_started=lambda: _announce(stack.urls, settings, embedded),
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
            say("embedded PostgreSQL stopped")


def _database(settings: Settings) -> tuple[Settings, EmbeddedPostgres | None]:
    """DATABASE_URL, or the embedded PostgreSQL (started now); reached either way."""
    from mercato.platform.db.startup import (
        check_database,
        start_embedded_database,
        with_database_url,
    )

    embedded = None
    if settings.database.url is None:
        data = settings.data_dir / "postgres"
        with _step(f"starting embedded PostgreSQL (data in {data})"):
            embedded, url = start_embedded_database(settings)
        settings = with_database_url(settings, url)
    check_database(settings)
    return settings, embedded


def _migrate(url: str, history: History) -> None:
    """Upgrade `history` to its head (nothing said if it is there already)."""
    from alembic.util import CommandError

    from mercato.platform.db import migrations

    head = migrations.head_revision(history)
    if asyncio.run(migrations.current_revision(url, history=history)) == head:
        return
    try:
        with _step(f"applying migrations ({history.schema or 'public'})"):
            migrations.upgrade(url, history=history)
    except CommandError as error:  # e.g. a revision of a newer build
        raise StartupError(f"migration: {error}") from None


def _load_demo_data(settings: Settings) -> None:
    """Each module's demo data, on a first start; a line says which module is loading
    and another what it loaded (a module with its data already says nothing)."""
    from mercato.platform.runtime import open_runtime

    async def load() -> None:
        async with open_runtime(settings, MODULES) as runtime:
            for module in MODULES:
                if module.demo is None:
                    continue
                started = time.monotonic()
                with _transient(f"demo data: {module.name}…"):
                    line = await module.demo(runtime)
                if line:
                    say(f"{line}, in {time.monotonic() - started:.1f} s")

    asyncio.run(load())


@contextmanager
def _transient(message: str) -> Iterator[None]:
    """A status line on a terminal, erased once done (elsewhere, nothing)."""
    shown = sys.stderr.isatty()
    if shown:
        sys.stderr.write(f"mercato: {message}")
        sys.stderr.flush()
    try:
        yield
    finally:
        if shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def _announce(
    urls: Mapping[str, str], settings: Settings, embedded: EmbeddedPostgres | None
) -> None:
    from mercato.platform.config import redact_url
    from mercato.platform.db.startup import EMBEDDED_DATABASE, database_url

    base = urls["API"]
    if embedded is not None:
        shown = f"{embedded.url(EMBEDDED_DATABASE)} (embedded, data in {embedded.data_dir})"
    else:
        shown = f"{redact_url(database_url(settings))} (DATABASE_URL)"
    services = "".join(
        f"  {name:<17}{url}  (docs {url}/docs)\n"
        for name, url in urls.items()
        if name != "Sandbox provider"
    )
    mailbox = ""
    if settings.env is Environment.DEVELOPMENT:
        mailbox = f"  Mailbox          {base}/dev/mailbox\n"
    typer.echo(
        f"\nMercato is up.\n{services}"
        f"  Sandbox provider {urls['Sandbox provider']}  (test cards: docs/sandbox.md)\n"
        f"{mailbox}"
        f"  Database         {shown}\n"
        f"  Try              curl -s {base}/health/ready\n"
        "Press Ctrl-C to stop.\n",
        err=True,
    )


WORKERS_HELP = (
    "Server processes sharing the port (one per core is a good start; each has its own"
    " database pool: workers x (DATABASE_POOL_SIZE + DATABASE_MAX_OVERFLOW) connections)"
)


@app.command("serve")
def serve_command(
    host: Annotated[str | None, typer.Option(help="Interface to bind [MERCATO_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind [MERCATO_PORT]")] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help=WORKERS_HELP)] = 1,
) -> None:
    """Serve the API only, on DATABASE_URL or a running embedded database.

    The schema must be migrated (`mercato migrate up`); run `mercato worker` beside it.
    With `--workers N`, N processes share the port; one that dies is started again, and
    SIGTERM drains them all.
    """
    settings = command_line.override(host=host, port=port)
    from mercato.platform.server import bind_listener

    try:
        listener = bind_listener(settings.host, settings.port)
    except StartupError as error:
        fail(str(error))
    settings = command_line.migrated_settings()
    from mercato.app import create_app
    from mercato.platform.server import serve_in_workers

    code = serve_in_workers(
        lambda: create_app(settings), settings, listener=listener, workers=workers
    )
    raise typer.Exit(code)


@app.command()
def worker() -> None:
    """Run the outbox relay, the event consumers and the job worker until SIGINT/SIGTERM."""
    from mercato.platform.server import run_worker

    settings = command_line.migrated_settings()

    async def until_signalled() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await run_worker(settings, MODULES, stop)

    asyncio.run(until_signalled())


@app.command()
def openapi(
    service: Annotated[
        str, typer.Option(help="`api` (this build's API) or `payments` (the payments service)")
    ] = "api",
) -> None:
    """Print the OpenAPI document (JSON), as /openapi.json serves it.

    Nothing is started and no database is needed: what `make client` generates from.
    """
    settings = command_line.settings()
    if service == "api":
        from mercato.app import create_app

        document = create_app(settings).openapi()
    elif service == "payments":
        from mercato.payments.process import create_payments_app, service_settings

        document = create_payments_app(service_settings(settings)).openapi()
    else:
        fail(f"--service must be `api` or `payments`, not {service!r}")
    typer.echo(json.dumps(document, indent=2))


platform_cli.register(command_line)
for _module in MODULES:
    if _module.cli is not None:
        _module.cli(command_line)


def main() -> None:
    """The `mercato` executable. An expected failure that reaches here (a StartupError
    raised outside a command's own handling) is one line and exit 2; Ctrl-C is quiet."""
    try:
        app(prog_name="mercato")
    except StartupError as error:
        typer.echo(f"mercato: {error}", err=True)
        sys.exit(platform_cli.EXIT_CONFIG)
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)


if __name__ == "__main__":
    main()
