"""A worker's liveness file: touched by its event loop while the loop turns.

A worker has no HTTP port for a liveness probe, and a crashed component already ends the
process. What a probe must catch is the other failure: a process that is alive but stuck
(a blocked event loop, a hung await). The loop itself touches the file every few seconds,
so a stale file means the loop has stopped turning; the probe compares its age with a
limit (`deploy/k8s/workers.yaml`: `find <file> -mmin -1`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import structlog

from mercato.platform.failures import StartupError

logger = structlog.get_logger(__name__)

TOUCH_EVERY_S = 10.0


@contextlib.asynccontextmanager
async def heartbeat(path: Path | None, *, every_s: float = TOUCH_EVERY_S) -> AsyncIterator[None]:
    """Touch `path` now and every `every_s` seconds until the block ends (nothing when
    None). Removed on the way out: a worker that stops is not alive."""
    if path is None:
        yield
        return
    try:
        _touch(path)
    except OSError as error:
        raise StartupError(
            f"MERCATO_WORKER_HEARTBEAT_FILE: {path} cannot be written ({error.strerror})"
        ) from None
    task = asyncio.create_task(_touch_every(path, every_s), name="heartbeat")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        _remove(path)


async def _touch_every(path: Path, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        try:
            _touch(path)
        except OSError as error:
            # A full or read-only disk must not stop the worker: the probe will say so.
            logger.warning("heartbeat_not_written", path=str(path), error=error.strerror)


# Called on the loop itself, not in a thread: a metadata write of a small local file, and
# the point is that the loop does it (a thread would go on touching a stuck loop's file).
def _touch(path: Path) -> None:
    path.touch()


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
