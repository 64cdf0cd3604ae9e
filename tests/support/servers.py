"""ASGI applications served for real by uvicorn, in the test process, on a free port.

Real sockets and real HTTP (timeouts, resets, concurrency behave as in production), but
started in milliseconds and on the test's own event loop, so their logs can be captured.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Generator

import uvicorn
from starlette.types import ASGIApp

STARTUP_TIMEOUT_S = 10.0


class _InProcessServer(uvicorn.Server):
    """A uvicorn server that leaves the signal handlers to the test runner."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def bound_socket() -> socket.socket:
    """A listening-ready socket on 127.0.0.1 and a free port (no race on the port).

    IPPROTO_TCP explicitly: asyncio turns Nagle off (TCP_NODELAY) only on sockets whose
    protocol says TCP, and with Nagle on, every keep-alive answer waits ~40 ms for the
    peer's delayed ACK between its headers and its body."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def port_of(sock: socket.socket) -> int:
    port: int = sock.getsockname()[1]
    return port


@contextlib.asynccontextmanager
async def serve_app(app: ASGIApp, sock: socket.socket | None = None) -> AsyncIterator[str]:
    """Serve `app` (lifespan included) until the block ends; yields its base URL."""
    sock = sock or bound_socket()
    config = uvicorn.Config(
        app,
        lifespan="on",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=3,
    )
    server = _InProcessServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(STARTUP_TIMEOUT_S):
            while not server.started:
                if task.done():
                    task.result()  # raises what stopped it, if anything
                    raise RuntimeError("the server stopped during start-up")
                await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port_of(sock)}"
    finally:
        server.should_exit = True
        await task
        sock.close()
