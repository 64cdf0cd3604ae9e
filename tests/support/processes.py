"""Starting helper processes for crash tests (killed with SIGKILL by the test)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path


def spawn_module(
    module: str, *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """`python -m module args…` from the repository root, quiet, logging warnings only."""
    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env={**os.environ, "LOG_LEVEL": "WARNING", **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_for_port(port: int, *, what: str, seconds: float = 10) -> None:
    """Return once something accepts connections on 127.0.0.1:`port`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not start")
