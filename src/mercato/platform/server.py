"""Process-level wiring shared by the CLI commands: settings, the database (yours or the
embedded one), the HTTP server and the worker. Which contexts run is the caller's list of
modules; nothing here knows one."""

from __future__ import annotations

import asyncio
import errno
import gc
import signal
import socket
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import asyncpg
import uvicorn
from fastapi import FastAPI
from pydantic import SecretStr, ValidationError
from pydantic_settings import BaseSettings

from mercato.platform.config import Settings, normalise_database_url, redact_url
from mercato.platform.db import migrations
from mercato.platform.db.database import Database
from mercato.platform.db.embedded import EmbeddedPostgres
from mercato.platform.failures import StartupError
from mercato.platform.module import Module
from mercato.platform.runtime import Runtime, job_blueprints, open_runtime
from mercato.platform.worker import Worker

EMBEDDED_DATABASE = "mercato"

__all__ = ["EMBEDDED_DATABASE", "StartupError"]  # StartupError: re-exported for callers


def load_settings(modules: Sequence[Module]) -> Settings:
    """The platform's settings and every module's section, validated now (a bad variable
    fails start-up with its name, not the first request that reads it)."""
    try:
        settings = Settings()
        for module in modules:
            if module.settings is not None:
                settings.section(module.settings)
    except ValidationError as error:
        raise StartupError(describe_settings_error(error)) from None
    return settings


def describe_settings_error(error: ValidationError) -> str:
    """One line naming the environment variable at fault, without echoing its value."""
    first = error.errors(include_url=False, include_input=False)[0]
    message = first["msg"].removeprefix("Value error, ")
    field = ".".join(str(part) for part in first["loc"])
    if not field:
        return f"configuration error: {message}"
    prefix = _env_prefix_of(error.title)
    variable = (prefix + field).upper() if prefix is not None else field
    return f"configuration error: {variable}: {message}"


def _env_prefix_of(class_name: str) -> str | None:
    for cls in BaseSettings.__subclasses__():
        if cls.__name__ == class_name:
            prefix = cls.model_config.get("env_prefix")
            return prefix if isinstance(prefix, str) else None
    return None


def embedded_server(settings: Settings) -> EmbeddedPostgres:
    return EmbeddedPostgres(Path(settings.data_dir).resolve() / "postgres")


def with_database_url(settings: Settings, url: str) -> Settings:
    normalised = normalise_database_url(url).render_as_string(hide_password=False)
    database = settings.database.model_copy(update={"url": SecretStr(normalised)})
    return settings.model_copy(update={"database": database})


def database_url(settings: Settings) -> str:
    """DATABASE_URL, or the running embedded server's; a StartupError if neither."""
    if settings.database.url is not None:
        return settings.database.url.get_secret_value()
    embedded = embedded_server(settings)
    if embedded.running_port() is None:
        raise StartupError(
            "no database: set DATABASE_URL, or start the embedded one with `mercato db start`"
        )
    return normalise_database_url(embedded.url(EMBEDDED_DATABASE)).render_as_string(False)


def start_embedded_database(settings: Settings) -> tuple[EmbeddedPostgres, str]:
    """Start (initialising on first use) the embedded server and its `mercato` database."""
    embedded = embedded_server(settings)
    admin_url = embedded.start(port=settings.embedded_db_port)
    asyncio.run(_create_database_if_missing(admin_url, EMBEDDED_DATABASE))
    return embedded, embedded.url(EMBEDDED_DATABASE)


async def _create_database_if_missing(admin_url: str, name: str) -> None:
    connection = await asyncpg.connect(admin_url)
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            # Identifiers cannot be bound as parameters; `name` is our constant.
            await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


def check_database(settings: Settings) -> None:
    """Connect and run `SELECT 1` within the connect timeout, or raise StartupError."""
    url = database_url(settings)
    timeout = settings.database.connect_timeout_s

    async def ping() -> None:
        database = Database.from_settings(with_database_url(settings, url).database)
        try:
            await asyncio.wait_for(database.ping(), timeout=timeout + 1)
        finally:
            await database.dispose()

    try:
        asyncio.run(ping())
    except (OSError, TimeoutError, asyncpg.PostgresError) as error:
        raise StartupError(f"database unreachable at {redact_url(url)}: {_reason(error)}") from None
    except Exception as error:  # noqa: BLE001 - SQLAlchemy wraps driver errors
        cause = error.__cause__ or error
        raise StartupError(f"database unreachable at {redact_url(url)}: {_reason(cause)}") from None


def require_migrated(settings: Settings, *, history: migrations.History = migrations.MAIN) -> None:
    """Refuse to start on a schema this build did not migrate (empty, behind, or from a
    newer build): one line saying what to run, instead of a traceback on the first query."""
    url = database_url(settings)
    current = asyncio.run(migrations.current_revision(url, history=history))
    head = migrations.head_revision(history)
    if current == head:
        return
    if current is None:
        state = "empty"
    elif not migrations.is_known_revision(current, history=history):
        raise StartupError(
            f"the database schema is at revision {current}, unknown to this build (migrated "
            "by a newer Mercato?): run the matching version, or start on another database"
        )
    else:
        state = f"at revision {current}"
    command = "mercato migrate up" if history is migrations.MAIN else "its migrate up command"
    raise StartupError(
        f"the database schema is {state}, this build needs {head}: run `{command}` "
        "(`mercato run` migrates by itself)"
    )


def bind_listener(host: str, port: int) -> socket.socket:
    """The API's listening socket, bound now: a port in use is found before any database
    work, and there is no window for another process to take it before uvicorn starts."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as error:
        raise StartupError(f"cannot listen on {host}: {error.strerror} (MERCATO_HOST)") from None
    listener = socket.socket(family, kind, proto)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(address)
    except OSError as error:
        listener.close()
        if error.errno == errno.EADDRINUSE:
            raise StartupError(
                f"port {port} on {host} is in use (is Mercato already running?): stop that "
                "process, or choose another port with --port or MERCATO_PORT"
            ) from None
        raise StartupError(
            f"cannot listen on {host}:{port}: {error.strerror} (MERCATO_HOST, MERCATO_PORT)"
        ) from None
    return listener


def _reason(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "no answer within the connect timeout"
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


class _AnnouncingServer(uvicorn.Server):
    """A uvicorn server that calls back once it is accepting connections."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_started = on_started

    async def startup(self, sockets: list[object] | None = None) -> None:  # type: ignore[override]
        await super().startup(sockets)  # type: ignore[arg-type]
        if self.started:
            # Everything built at start-up (routes, models, schemas) lives as long as the
            # process: freeze it out of the cyclic collector, whose full passes over it
            # showed up as 50-100 ms stalls at the p99 of cached reads.
            gc.collect()
            gc.freeze()
            self._on_started()


def exit_cleanly_on_sigterm() -> None:
    """Make SIGTERM take the same path as Ctrl-C (KeyboardInterrupt) during start-up, so
    that the `finally` blocks run (the embedded database is stopped) either way."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def _ignore_reraised_signals() -> None:
    """uvicorn drains on SIGINT/SIGTERM, restores the previous handlers and re-raises the
    signal. With no-op handlers in place that re-raise does nothing: `serve` returns, the
    worker is stopped in order, and the process exits 0."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: None)


# Work run beside the API in the same event loop (the worker, in `mercato run`); it gets
# the stop signal and the application's runtime (one pool, one set of services).
Background = Callable[[asyncio.Event, Runtime], Coroutine[Any, Any, None]]


def serve(
    app: FastAPI,
    settings: Settings,
    *,
    on_started: Callable[[], None] = lambda: None,
    background: Background | None = None,
    listener: socket.socket | None = None,
) -> None:
    """Run `app` (and `background`, e.g. the worker) until SIGINT/SIGTERM; drain, return.
    `listener` is a socket bound by `bind_listener` (else it is bound here: a port in use
    is a StartupError either way)."""
    sockets = [listener or bind_listener(settings.host, settings.port)]
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        lifespan="on",
        access_log=False,
        server_header=False,
        log_config=None,
        proxy_headers=False,
        timeout_graceful_shutdown=10,
    )
    server = _AnnouncingServer(config, on_started)
    _ignore_reraised_signals()
    with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
        runner.run(_serve_with(server, app, background, sockets))


async def _serve_with(
    server: uvicorn.Server,
    app: FastAPI,
    background: Background | None,
    sockets: list[socket.socket],
) -> None:
    stop = asyncio.Event()
    task = None
    if background is not None:
        task = asyncio.create_task(_after_startup(server, app, stop, background))
        # A worker that dies takes the API down with it, loudly, rather than silently
        # leaving events unpublished behind a healthy-looking API.
        task.add_done_callback(lambda _: setattr(server, "should_exit", True))
    try:
        await server.serve(sockets=sockets)
    finally:
        stop.set()
        if task is not None:
            await task


async def _after_startup(
    server: uvicorn.Server, app: FastAPI, stop: asyncio.Event, background: Background
) -> None:
    """Run `background` with the application's runtime, once its lifespan has built it."""
    while not server.started:
        if server.should_exit or stop.is_set():
            return
        await asyncio.sleep(0.05)
    await background(stop, app.state.runtime)


def build_worker(runtime: Runtime) -> Worker:
    """The relay, every module's consumers and jobs, on the runtime's database."""
    return Worker(
        runtime.settings,
        runtime.database,
        catalog=runtime.event_catalog,
        consumers=runtime.consumers(),
        blueprints=job_blueprints(runtime.modules),
        metrics=runtime.event_metrics,
        runtime=runtime,
    )


async def run_worker(settings: Settings, modules: Sequence[Module], stop: asyncio.Event) -> None:
    """A worker process: its own runtime, until `stop` is set."""
    async with open_runtime(settings, modules) as runtime:
        await build_worker(runtime).run(stop)
