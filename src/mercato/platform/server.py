"""Process-level wiring shared by the CLI commands: the HTTP servers (one process or
`--workers N`) and the worker. Settings are read by `platform.settings_loading`, the
database a process starts on is `platform.db.startup`'s. Which contexts run is the
caller's list of modules; nothing here knows one."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import signal
import socket
from collections.abc import Callable, Coroutine, Generator, Iterator, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Any

import uvicorn
from fastapi import FastAPI
from prometheus_client import CollectorRegistry, start_http_server
from starlette.types import ASGIApp

from mercato.platform.config import (
    Settings,
)
from mercato.platform.failures import StartupError
from mercato.platform.heartbeat import heartbeat
from mercato.platform.module import Module
from mercato.platform.observability import tracing
from mercato.platform.runtime import Runtime, open_runtime
from mercato.platform.supervisor import Supervisor

# Imported where used: a server process that does not run them does not carry them (the
# embedded database's tooling, the worker's NATS client and job queue; docs/benchmarks.md,
# "RSS per API process").
if TYPE_CHECKING:
    from mercato.platform.worker import Worker


def bind_listener(
    host: str, port: int, *, variables: str = "--host/--port or MERCATO_HOST/MERCATO_PORT"
) -> socket.socket:
    """A listening socket, bound now: a port in use is found before any database work, and
    there is no window for another process to take it before uvicorn starts."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as error:
        raise StartupError(f"cannot listen on {host}: {error.strerror} ({variables})") from None
    listener = socket.socket(family, kind, proto)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(address)
    except OSError as error:
        listener.close()
        if error.errno == errno.EADDRINUSE:
            raise StartupError(
                f"port {port} on {host} is in use (is Mercato already running?): stop that "
                f"process, or choose another port ({variables})"
            ) from None
        raise StartupError(
            f"cannot listen on {host}:{port}: {error.strerror} ({variables})"
        ) from None
    return listener


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signals to `serve_all` (which stops every server of the
    process at once) and says when it accepts connections."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def exit_cleanly_on_sigterm() -> None:
    """Make SIGTERM take the same path as Ctrl-C (KeyboardInterrupt) during start-up, so
    that the `finally` blocks run (the embedded database is stopped) either way."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


# Work run beside a served application in the same event loop (its worker, in `mercato
# run`); it gets the stop signal and the application's runtime (one pool, one set of
# services).
Background = Callable[[asyncio.Event, Runtime], Coroutine[Any, Any, None]]


@dataclass(frozen=True, slots=True)
class Served:
    """One application of the process, where it listens (a socket bound already by
    `bind_listener`, or bound when serving starts), and what runs beside it."""

    app: ASGIApp
    host: str
    port: int
    background: Background | None = None
    listener: socket.socket | None = None


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
    serve_all(
        [Served(app, settings.host, settings.port, background, listener)], on_started=on_started
    )


def serve_in_workers(
    make_app: Callable[[], FastAPI],
    settings: Settings,
    *,
    listener: socket.socket,
    workers: int,
) -> int:
    """`serve` in `workers` processes sharing `listener` (see `supervisor`); one worker is
    served in this process. Returns the exit code."""
    if workers == 1:
        serve(make_app(), settings, listener=listener)
        return 0

    def serve_one() -> None:
        serve(make_app(), settings, listener=listener)

    return Supervisor(serve_one, workers=workers).run()


def serve_all(services: Sequence[Served], *, on_started: Callable[[], None] = lambda: None) -> None:
    """Run several applications in one event loop (the API, the payments service and the
    sandbox in `mercato run`) until SIGINT/SIGTERM: every server drains, then each
    background task stops, and the call returns."""
    sockets = [served.listener or bind_listener(served.host, served.port) for served in services]
    servers = [
        _Server(
            uvicorn.Config(
                served.app,
                host=served.host,
                port=served.port,
                lifespan="on",
                access_log=False,
                server_header=False,
                log_config=None,
                proxy_headers=False,
                timeout_graceful_shutdown=10,
            )
        )
        for served in services
    ]
    loop_factory = servers[0].config.get_loop_factory()
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(_serve_all(servers, services, on_started, sockets))


async def _serve_all(
    servers: list[_Server],
    services: Sequence[Served],
    on_started: Callable[[], None],
    sockets: list[socket.socket],
) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def shut_down() -> None:
        for server in servers:
            server.should_exit = True

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, shut_down)
    tasks = []
    for server, served in zip(servers, services, strict=True):
        if served.background is not None:
            task = asyncio.create_task(_after_startup(server, served, stop))
            # A worker that dies takes the process down with it, loudly, rather than
            # silently leaving events unpublished behind a healthy-looking API.
            task.add_done_callback(lambda _: shut_down())
            tasks.append(task)
    announcer = asyncio.create_task(_announce_when_started(servers, on_started))
    try:
        await asyncio.gather(
            *(server.serve(sockets=[sock]) for server, sock in zip(servers, sockets, strict=True))
        )
    finally:
        shut_down()
        stop.set()
        announcer.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


async def _announce_when_started(servers: list[_Server], on_started: Callable[[], None]) -> None:
    while not all(server.started for server in servers):
        if any(server.should_exit for server in servers):
            return
        await asyncio.sleep(0.05)
    # Everything built at start-up (routes, models, schemas) lives as long as the process:
    # freeze it out of the cyclic collector, whose full passes over it showed up as
    # 50-100 ms stalls at the p99 of cached reads.
    gc.collect()
    gc.freeze()
    on_started()


async def _after_startup(server: _Server, served: Served, stop: asyncio.Event) -> None:
    """Run the background work with the application's runtime, once its lifespan built it."""
    assert served.background is not None
    while not server.started:
        if server.should_exit or stop.is_set():
            return
        await asyncio.sleep(0.05)
    app: Any = served.app
    await served.background(stop, app.state.runtime)


def build_worker(runtime: Runtime) -> Worker:
    """The relay, every module's consumers and jobs, on the runtime's database."""
    from mercato.platform.runtime import job_blueprints
    from mercato.platform.worker import Worker

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
    """A worker process: its own runtime, until `stop` is set; its metrics on
    127.0.0.1:`MERCATO_WORKER_METRICS_PORT` and its liveness file
    (`MERCATO_WORKER_HEARTBEAT_FILE`) when set."""
    tracing.configure(default_service="mercato-worker")
    async with (
        open_runtime(settings, modules) as runtime,
        heartbeat(settings.worker_heartbeat_file),
    ):
        with _worker_metrics(settings.worker_metrics_port, runtime.registry):
            await build_worker(runtime).run(stop)


@contextlib.contextmanager
def _worker_metrics(port: int | None, registry: CollectorRegistry) -> Iterator[None]:
    """Prometheus' own small server for a process that has no HTTP app. Loopback only: like
    the servers' `/metrics` without a token, for this host's scrapers alone."""
    if port is None:
        yield
        return
    try:
        server, _ = start_http_server(port, addr="127.0.0.1", registry=registry)
    except OSError as error:
        raise StartupError(
            f"MERCATO_WORKER_METRICS_PORT: 127.0.0.1:{port} cannot be bound ({error.strerror})"
        ) from None
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
