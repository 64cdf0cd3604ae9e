"""Real `mercato` processes on free ports, driven over HTTP."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from mercato.platform.db import migrations
from tests.conftest import create_database, drop_database

STARTUP_TIMEOUT_S = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def mercato_env(**overrides: str | None) -> dict[str, str]:
    """The current environment with overrides; a None value removes the variable."""
    env = dict(os.environ)
    env.setdefault("LOG_LEVEL", "WARNING")
    # Keys and other local state go to a throwaway directory, never the working tree.
    env.setdefault("MERCATO_DATA_DIR", tempfile.mkdtemp(prefix="mercato-e2e-"))
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def run_mercato(
    *args: str, env: Mapping[str, str], cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mercato", *args],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass
class RunningMercato:
    process: subprocess.Popen[str]
    base_url: str
    captured: str = ""

    def wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.stop()
                pytest.fail(f"mercato exited with {self.process.returncode}:\n{self.captured}")
            try:
                if httpx.get(f"{self.base_url}/health/ready", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        pytest.fail("mercato did not become ready in time")

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 30) -> int:
        """Signal the process, wait for it, and keep everything it printed."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            output, _ = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            output, _ = self.process.communicate()
        self.captured += output or ""
        return self.process.returncode

    def output(self) -> str:
        return self.captured


def start_mercato(*args: str, env: Mapping[str, str], cwd: Path | None = None) -> RunningMercato:
    port = int(env["MERCATO_PORT"])
    process = subprocess.Popen(
        [sys.executable, "-m", "mercato", *args],
        env=dict(env),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return RunningMercato(process=process, base_url=f"http://127.0.0.1:{port}")


@pytest.fixture
def served(database_url: str) -> Iterator[RunningMercato]:
    """`mercato serve` against the session's test database."""
    env = mercato_env(DATABASE_URL=database_url, MERCATO_PORT=str(free_port()), LOG_LEVEL="INFO")
    server = start_mercato("serve", env=env)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop(signal.SIGKILL)


@pytest.fixture
def scratch_database(postgres_server: str) -> Iterator[str]:
    """A migrated database of this test's own (what it commits stays out of the others')."""
    url = asyncio.run(create_database(postgres_server, prefix="mercato_cli"))
    try:
        migrations.upgrade(url)
        yield url
    finally:
        asyncio.run(drop_database(postgres_server, url))
