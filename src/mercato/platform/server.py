"""Process-level wiring shared by the CLI commands: settings, the database (yours or the
embedded one), the HTTP server and the worker. Which contexts run is the caller's list of
modules; nothing here knows one."""

from __future__ import annotations

import asyncio
import gc
import signal
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import asyncpg
import uvicorn
from fastapi import FastAPI
from pydantic import SecretStr, ValidationError
from pydantic_settings import BaseSettings

from mercato.platform.config import (
    DatabaseSettings,
    EventSettings,
    HttpSettings,
    JobSettings,
    LogSettings,
    MailSettings,
    Settings,
    normalise_database_url,
    redact_url,
)
from mercato.platform.db.database import Database
from mercato.platform.db.embedded import EmbeddedPostgres
from mercato.platform.module import Module
from mercato.platform.runtime import Runtime, job_blueprints, open_runtime
from mercato.platform.worker import Worker

EMBEDDED_DATABASE = "mercato"


class StartupError(Exception):
    """Problems the operator must fix; printed one line each, exit code 2."""


# The platform's own sections, each read from the environment on its own (`load_settings`).
_PLATFORM_SECTIONS: dict[str, type[BaseSettings]] = {
    "database": DatabaseSettings,
    "http": HttpSettings,
    "log": LogSettings,
    "events": EventSettings,
    "mail": MailSettings,
    "jobs": JobSettings,
}


def load_settings(modules: Sequence[Module]) -> Settings:
    """The platform's settings and every module's section, validated now (a bad variable
    fails start-up with its name, not the first request that reads it). Every bad variable
    is reported, one line each, not only the first."""
    problems: list[str] = []
    sections: dict[str, BaseSettings] = {}
    failed: set[str] = set()
    for field, kind in _PLATFORM_SECTIONS.items():
        try:
            sections[field] = kind()
        except ValidationError as error:
            problems.extend(describe_settings_errors(error, kind))
            sections[field] = kind.model_construct()  # defaults, so the root can be checked
            failed.add(field)
    settings: Settings | None = None
    try:
        settings = Settings(**sections)  # type: ignore[arg-type]
    except ValidationError as error:
        # A section that failed on its own is reported already.
        problems.extend(
            line
            for item, line in zip(error.errors(), describe_settings_errors(error), strict=True)
            if not item["loc"] or item["loc"][0] not in failed
        )
    for module in modules:
        if module.settings is not None:
            try:
                section = module.settings()
            except ValidationError as error:
                problems.extend(describe_settings_errors(error, module.settings))
            else:
                if settings is not None:
                    settings = settings.with_section(section)
    if problems or settings is None:
        raise StartupError("\n".join(problems))
    return settings


def describe_settings_error(error: ValidationError) -> str:
    """The first problem of `error`, in one line (see `describe_settings_errors`)."""
    return describe_settings_errors(error)[0]


def describe_settings_errors(
    error: ValidationError, kind: type[BaseSettings] | None = None
) -> list[str]:
    """One line per problem, naming the environment variable at fault, without echoing
    its value."""
    prefix = (
        _prefix_of(kind.model_config.get("env_prefix"))
        if kind is not None
        else _env_prefix_of(error.title)
    )
    lines = []
    for item in error.errors(include_url=False, include_input=False):
        message = item["msg"].removeprefix("Value error, ")
        loc = [str(part) for part in item["loc"]]
        if not loc or loc[0] in _PLATFORM_SECTIONS:
            # A check on the whole (or on a section): the message names the variable.
            lines.append(f"configuration error: {message}")
            continue
        # An alias is the variable itself (`REDIS_URL`); a field name takes the prefix.
        name = loc[0] if loc[0].isupper() else (prefix or "") + loc[0]
        variable = ".".join([name.upper(), *loc[1:]])
        lines.append(f"configuration error: {variable}: {message}")
    return lines


def _env_prefix_of(class_name: str) -> str | None:
    for cls in BaseSettings.__subclasses__():
        if cls.__name__ == class_name:
            return _prefix_of(cls.model_config.get("env_prefix"))
    return None


def _prefix_of(value: object) -> str | None:
    return value if isinstance(value, str) else None


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
) -> None:
    """Run `app` (and `background`, e.g. the worker) until SIGINT/SIGTERM; drain, return."""
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
        runner.run(_serve_with(server, app, background))


async def _serve_with(server: uvicorn.Server, app: FastAPI, background: Background | None) -> None:
    stop = asyncio.Event()
    task = None
    if background is not None:
        task = asyncio.create_task(_after_startup(server, app, stop, background))
        # A worker that dies takes the API down with it, loudly, rather than silently
        # leaving events unpublished behind a healthy-looking API.
        task.add_done_callback(lambda _: setattr(server, "should_exit", True))
    try:
        await server.serve()
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
    )


async def run_worker(settings: Settings, modules: Sequence[Module], stop: asyncio.Event) -> None:
    """A worker process: its own runtime, until `stop` is set."""
    async with open_runtime(settings, modules) as runtime:
        await build_worker(runtime).run(stop)
