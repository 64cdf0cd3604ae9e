"""A redis-server of a test's own, on a free port: to kill or SIGSTOP mid-test (never the
shared one)."""

from __future__ import annotations

import shutil
import signal
import subprocess

import pytest

from tests.conftest import IN_CI
from tests.e2e.conftest import free_port
from tests.support.processes import wait_for_port


class PrivateRedis:
    """A redis-server of the test's own, to kill or pause in the middle of a test."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            if IN_CI:
                pytest.fail("CI=true but redis-server is not installed")
            pytest.skip("redis-server is not installed")
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, what="redis-server")

    def pause(self) -> None:
        """SIGSTOP: connections are still accepted (by the kernel), nothing answers."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)  # never left stopped, whatever happens
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None
