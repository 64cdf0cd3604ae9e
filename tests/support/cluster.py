"""A cluster (`mercato cluster up`) started for a test session, in a data directory of
its own, and what tests do with it: talk through nginx or to one process, read the state
file, kill a process and wait for its restart, read nginx's access log."""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from mercato.cluster import control
from mercato.cluster.supervisor import port_open
from mercato.cluster.topology import Layout, Shape

__all__ = ["port_open"]

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
ENGINES = ("nginx", "redis-server", "nats-server")


def require_engines() -> None:
    """Skip (fail in CI) when an engine the cluster needs is not installed."""
    missing = [
        name
        for name in ENGINES
        if shutil.which(name) is None and shutil.which(name, path="/usr/sbin:/sbin") is None
    ]
    if not list(Path("/usr/lib/postgresql").glob("*/bin/pg_basebackup")):
        missing.append("postgresql")
    if missing:
        reason = f"the cluster needs {', '.join(missing)} (Debian packages)"
        if IN_CI:
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)


@dataclass
class Cluster:
    layout: Layout

    @property
    def url(self) -> str:
        return self.layout.public_url

    def state(self) -> dict[str, Any]:
        state = control.read_state(self.layout)
        assert state is not None
        return state

    def pid(self, name: str) -> int:
        pid: int = self.state()["processes"][name]["pid"]
        return pid

    def restarts(self, name: str) -> int:
        restarts: int = self.state()["processes"][name]["restarts"]
        return restarts

    def kill(self, name: str, signum: int = signal.SIGKILL) -> int:
        """Signal one process (the supervisor restarts it); its pid."""
        pid = self.pid(name)
        os.kill(pid, signum)
        return pid

    def wait_restarted(self, name: str, old_pid: int, *, timeout_s: float = 60.0) -> int:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            pid = self.pid(name)
            if pid != old_pid:
                return pid
            time.sleep(0.1)
        raise AssertionError(f"{name} was not restarted within {timeout_s} s")

    def admin(self) -> dict[str, str]:
        credentials: dict[str, str] = json.loads(
            (self.layout.data / "keys" / "admin.json").read_text()
        )
        return credentials

    def nginx_log(self) -> list[dict[str, Any]]:
        """nginx's access log so far (JSON lines written by the shared config)."""
        lines = (self.layout.logs / "nginx.log").read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]


def data_directory(name: str) -> Path:
    """A directory for a cluster's data outside pytest's tmp tree: the `postgres` user
    must traverse its parents, and pytest resets its own root to mode 0700 whenever any
    session on the machine starts."""
    return Path(tempfile.mkdtemp(prefix=f"mercato-{name}-"))


def remove(data: Path) -> None:
    shutil.rmtree(data, ignore_errors=True)


def start(data: Path, *, base_port: int, shape: Shape) -> Cluster:
    layout = Layout(control.repository_root(), base_port, shape, data)
    control.up(layout)
    return Cluster(layout)


def stop(cluster: Cluster) -> None:
    control.down(cluster.layout)


def client(
    base_url: str, *, source: str = "127.0.0.1", timeout_s: float = 10.0
) -> httpx.AsyncClient:
    """An HTTP client whose connections come from `source` (any 127.x address): nginx
    sees a distinct client address per test, so rate limits per IP do not mix."""
    transport = httpx.AsyncHTTPTransport(local_address=source, retries=0)
    return httpx.AsyncClient(base_url=base_url, transport=transport, timeout=timeout_s)


async def admin_token(cluster: Cluster, http: httpx.AsyncClient) -> str:
    credentials = cluster.admin()
    answer = await http.post(
        "/api/v1/auth/login",
        json={"email": credentials["email"], "password": credentials["password"]},
    )
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token
