"""What the benchmark suites share: a server process, wrk and pgbench runs, percentiles."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from mercato.platform.jobs.runtime import libpq_url

DURATION_S = 10
CONNECTIONS = 8


@dataclass(frozen=True)
class Load:
    """One wrk or pgbench run."""

    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int = 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def require_tool(tool: str) -> None:
    if shutil.which(tool) is None:
        sys.exit(
            f"{tool} is not installed (Debian: apt-get install {tool}); see docs/benchmarks.md"
        )


# --- the server ----------------------------------------------------------------------


class Server:
    """`mercato serve` on a free port, rate limits off (they would be the bottleneck)."""

    def __init__(
        self,
        database_url: str,
        data_dir: Path,
        *,
        extra_env: dict[str, str] | None = None,
        command: Sequence[str] = ("-m", "mercato", "serve"),
    ) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "MERCATO_PORT": str(self.port),
            "MERCATO_DATA_DIR": str(data_dir),
            "HTTP_RATE_LIMITS_ENABLED": "false",
            # Per the method (checklists/performance.md): no access log line per request.
            "LOG_ACCESS": "false",
            **(extra_env or {}),
        }
        self._process = subprocess.Popen(
            [sys.executable, *(part.format(port=self.port) for part in command)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def wait_ready(self, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/health/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("the server did not become ready")

    @property
    def pid(self) -> int:
        return self._process.pid

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=30)


# --- wrk and pgbench ----------------------------------------------------------------


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, script: Path, *, connections: int = CONNECTIONS) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{DURATION_S}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )


def wrk_load(process: subprocess.Popen[str]) -> Load:
    output, _ = process.communicate(timeout=DURATION_S + 60)
    latency = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", output, flags=re.MULTILINE))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return Load(
        requests_per_s=float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),  # type: ignore[union-attr]
        p50_ms=to_ms(latency["50"]),
        p99_ms=to_ms(latency["99"]),
        errors=int(errors.group(1)) if errors else 0,
    )


def to_ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(\w+)", value).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS_MS[unit]


def pgbench(database_url: str, scripts: Sequence[Path], workdir: Path) -> Load:
    logs = workdir / "pgbench-log"
    logs.mkdir(exist_ok=True)
    for old in logs.iterdir():
        old.unlink()
    arguments = ["pgbench", "-n", f"-c{CONNECTIONS}", "-j2", f"-T{DURATION_S}", "-l"]
    arguments += [f"--log-prefix={logs / 'tx'}"]
    for script in scripts:
        arguments += ["-f", f"{script}@1"]
    arguments.append(libpq_url(database_url))
    output = subprocess.run(arguments, capture_output=True, text=True, check=True).stdout
    return pgbench_load(output, logs)


def pgbench_load(output: str, logs: Path) -> Load:
    """A pgbench run's rate (its summary `output`) and latencies (its `-l` logs in `logs`);
    `errors`: failed transactions, where pgbench reports them."""
    latencies = sorted(
        int(line.split()[2]) / 1000
        for log in logs.iterdir()
        for line in log.read_text().splitlines()
        if line
    )
    tps = float(re.search(r"tps = ([\d.]+)", output).group(1))  # type: ignore[union-attr]
    failed = re.search(r"number of failed transactions: (\d+)", output)
    return Load(
        requests_per_s=tps,
        p50_ms=percentile(latencies, 0.50),
        p99_ms=percentile(latencies, 0.99),
        errors=int(failed.group(1)) if failed else 0,
    )


def percentile(values: Sequence[float], fraction: float) -> float:
    return values[min(len(values) - 1, int(len(values) * fraction))] if values else 0.0


def lua_list(values: Sequence[str]) -> str:
    return "{" + ", ".join(json.dumps(value) for value in values) + "}"


def rss_mib(pid: int) -> float:
    """Resident memory of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def child_pids(pid: int) -> list[int]:
    """The processes whose parent is `pid` (the workers of `serve --workers N`)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def server_rss_mib(pid: int) -> float:
    """RSS of a server: of its largest worker when it has workers, else its own."""
    children = child_pids(pid)
    return max((rss_mib(child) for child in children), default=0.0) if children else rss_mib(pid)
