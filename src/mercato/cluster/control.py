"""Starting, stopping and reading the state of a cluster from outside its supervisor
(`mercato cluster up|down|status`, the Makefile, the tests)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from mercato.cluster.topology import Layout

UP_TIMEOUT_S = 240.0
DOWN_TIMEOUT_S = 60.0


class ClusterError(Exception):
    """The cluster could not be started or stopped; the message says why."""


def read_state(layout: Layout) -> dict[str, Any] | None:
    try:
        state: dict[str, Any] = json.loads(layout.state_file.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return state


def supervisor_alive(state: dict[str, Any] | None) -> bool:
    if state is None or not isinstance(state.get("supervisor_pid"), int):
        return False
    try:
        os.kill(state["supervisor_pid"], 0)
    except ProcessLookupError:
        return False
    return state.get("status") in {"starting", "up", "stopping"}


def up(layout: Layout) -> dict[str, Any]:
    """Start the supervisor (unless one runs) and wait until every process is ready."""
    state = read_state(layout)
    if supervisor_alive(state) and state is not None and state["status"] == "up":
        return state
    if supervisor_alive(state):
        raise ClusterError("a cluster is starting or stopping already: see `status`")
    layout.logs.mkdir(parents=True, exist_ok=True)
    layout.state_file.unlink(missing_ok=True)
    shape = layout.shape
    argv = [
        sys.executable,
        "-m",
        "mercato.cluster.supervisor",
        "--root",
        str(layout.root),
        "--data",
        str(layout.data),
        "--base-port",
        str(layout.base_port),
        "--api",
        str(shape.api),
        "--payments",
        str(shape.payments),
        "--workers",
        str(shape.workers),
        "--demo-products",
        str(shape.demo_products),
    ]
    if not shape.replica:
        argv.append("--no-replica")
    if not shape.rate_limits:
        argv.append("--no-rate-limits")
    argv.append("--detach")
    with (layout.logs / "supervisor.log").open("ab") as log:
        launcher = subprocess.run(  # noqa: S603 - our own interpreter and arguments
            argv,
            cwd=layout.root,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            check=False,
            timeout=30,
        )
    if launcher.returncode != 0:
        raise ClusterError(f"the supervisor did not start: see {layout.logs}/supervisor.log")
    deadline = time.monotonic() + UP_TIMEOUT_S
    seen_alive = False
    while time.monotonic() < deadline:
        state = read_state(layout)
        if state is not None and state["status"] == "up":
            return state
        if state is not None and state["status"] == "failed":
            _wait_gone(state["supervisor_pid"])
            raise ClusterError(f"the cluster did not start: {state.get('error')}")
        alive = supervisor_alive(state)
        if seen_alive and not alive:
            raise ClusterError(f"the supervisor died: see {layout.logs}/supervisor.log")
        seen_alive = seen_alive or alive
        time.sleep(0.2)
    if state is not None:
        down(layout)
    raise ClusterError(f"the cluster was not up after {UP_TIMEOUT_S:.0f} s: see {layout.logs}")


def _wait_gone(pid: int) -> bool:
    deadline = time.monotonic() + DOWN_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False


def down(layout: Layout) -> bool:
    """Stop the supervisor (which stops everything); False if none was running."""
    state = read_state(layout)
    if not supervisor_alive(state) or state is None:
        return False
    pid: int = state["supervisor_pid"]
    os.kill(pid, signal.SIGTERM)
    if _wait_gone(pid):
        return True
    raise ClusterError(f"the supervisor (pid {pid}) did not stop within {DOWN_TIMEOUT_S:.0f} s")


def repository_root() -> Path:
    """The checkout this package runs from (`src/mercato/cluster/` → the root)."""
    return Path(__file__).resolve().parents[3]
