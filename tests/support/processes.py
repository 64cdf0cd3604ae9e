"""Starting helper processes for crash tests (killed with SIGKILL by the test)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def spawn_module(module: str, *args: str, cwd: Path) -> subprocess.Popen[bytes]:
    """`python -m module args…` from the repository root, quiet, logging warnings only."""
    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env={**os.environ, "LOG_LEVEL": "WARNING"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
