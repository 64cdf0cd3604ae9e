"""Several server processes on one port: `mercato serve --workers N`.

The supervisor binds the listening socket once and forks N workers that inherit it: they
all `accept()` on the same socket, so a worker that is busy or stopped simply takes no
connection (with SO_REUSEPORT the kernel would keep routing connections to it). Workers are
forked before any event loop, thread or database connection exists in the supervisor, and
after the application's modules are imported, so that the code pages are shared.

A worker that dies is forked again (after a pause that grows while workers keep dying
young, so a crash at start-up does not spin). SIGTERM or SIGINT is passed on to every
worker, which drains its requests as a single `mercato serve` does; the supervisor waits
for them (SIGKILL after `grace_s`) and exits 0.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
import time
from collections.abc import Callable
from types import FrameType

import structlog

logger = structlog.get_logger(__name__)

YOUNG_S = 5.0  # a worker dying sooner than this after its start delays the next one
MAX_RESTART_DELAY_S = 30.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Supervisor:
    """Forks `workers` processes running `serve_one()`, keeps them running, stops them."""

    def __init__(
        self, serve_one: Callable[[], None], *, workers: int, grace_s: float = 30.0
    ) -> None:
        if workers < 1:
            raise ValueError("at least one worker")
        self._serve_one = serve_one
        self._workers = workers
        self._grace_s = grace_s
        self._children: dict[int, tuple[int, float]] = {}  # pid → (slot, started at)
        self._stopping = False
        self._young_deaths = 0

    def run(self) -> int:
        """Supervise until stopped by a signal; the exit code for the process."""
        previous = {signum: signal.signal(signum, self._on_stop) for signum in STOP_SIGNALS}
        try:
            # What the supervisor built (imported modules, settings) is never freed: out of
            # the collector, so the workers' collections do not touch (and copy) its pages.
            gc.collect()
            gc.freeze()
            for slot in range(self._workers):
                self._fork(slot)
            logger.info("workers_started", workers=self._workers, pids=sorted(self._children))
            while not self._stopping:
                self._reap_and_replace()
            return self._stop_all()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _on_stop(self, signum: int, frame: FrameType | None) -> None:
        # Passed on at once: the supervisor's `os.wait()` resumes after this handler and
        # returns when the first worker has drained.
        self._stopping = True
        for pid in list(self._children):
            _signal(pid, signal.SIGTERM)

    def _fork(self, slot: int) -> None:
        pid = os.fork()
        if pid == 0:  # the worker
            for signum in STOP_SIGNALS:
                signal.signal(signum, signal.SIG_DFL)  # its server installs its own
            code = 0
            try:
                self._serve_one()
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else 1
            except BaseException:  # the worker's end: reported, and by its exit code
                logger.exception("worker_failed", slot=slot)
                code = 1
            # os._exit skips the interpreter's exit (the supervisor's state is not the
            # worker's to clean up): flush what the worker printed first.
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            os._exit(code)
        self._children[pid] = (slot, time.monotonic())

    def _reap_and_replace(self) -> None:
        try:
            pid, status = os.wait()  # a stop signal runs its handler, then waits on
        except ChildProcessError:
            return
        if self._stopping:
            self._children.pop(pid, None)
            return
        slot, started = self._children.pop(pid, (0, 0.0))
        lived = time.monotonic() - started
        self._young_deaths = self._young_deaths + 1 if lived < YOUNG_S else 0
        delay = min(MAX_RESTART_DELAY_S, 0.5 * 2**self._young_deaths) if self._young_deaths else 0
        logger.warning(
            "worker_died",
            pid=pid,
            slot=slot,
            exit=_describe(status),
            lived_s=round(lived, 1),
            restart_in_s=delay,
        )
        deadline = time.monotonic() + delay
        while not self._stopping and time.monotonic() < deadline:
            time.sleep(0.05)
        if not self._stopping:
            self._fork(slot)
            logger.info("worker_restarted", slot=slot)

    def _stop_all(self) -> int:
        deadline = time.monotonic() + self._grace_s
        while self._children and time.monotonic() < deadline:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                time.sleep(0.05)
                continue
            self._children.pop(pid, None)
        for pid in list(self._children):
            logger.warning("worker_killed", pid=pid, after_s=self._grace_s)
            _signal(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        logger.info("workers_stopped")
        return 0


def _signal(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return signal.Signals(os.WTERMSIG(status)).name
    return f"exit {os.waitstatus_to_exitcode(status)}"
