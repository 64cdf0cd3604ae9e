"""Throughput through nginx on the cache-miss list: 3 API processes against 1.

Not a timed unit test: it measures and prints (the figures go to docs/benchmarks.md), and
only asserts what must hold on any machine: no errors, and three processes not slower
than one. wrk is one client address, so this cluster of its own runs without rate limits
(and with one payments process and one worker: they are not measured). One Python
process uses at most one core; on this 2-core box three share both cores with nginx,
the primary, the replica and wrk, so the ratio is bounded by CPU (at most ~2), not by
Mercato."""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mercato.cluster import engines
from mercato.cluster.topology import Shape, executable, mercato
from tests.support import cluster as clusters

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

PRODUCTS = 20_000
DURATION_S = 6
CONNECTIONS = 16
ROUNDS = 2
ONE_PROCESS_PORT_OFFSET = 5
_MISS_SCRIPT = """local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("seed", threads)
end
function init(args)
  math.randomseed(os.time() * 1000 + (seed or 0) * 7919)
end
request = function()
  return wrk.format("GET", "/api/v1/products?currency=EUR&min_price=" ..
    math.random(0, 5000) .. "&limit=" .. math.random(20, 30))
end
"""


THROUGHPUT_BASE_PORT = 18800


@pytest.fixture(scope="module")
def unlimited_cluster() -> Iterator[clusters.Cluster]:
    clusters.require_engines()
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed")
    data = clusters.data_directory("throughput")
    shape = Shape(api=3, payments=1, workers=1, replica=True, rate_limits=False, demo_products=0)
    try:
        running = clusters.start(data, base_port=THROUGHPUT_BASE_PORT, shape=shape)
    except Exception:
        clusters.remove(data)
        raise
    try:
        yield running
    finally:
        clusters.stop(running)
        clusters.remove(data)


def test_three_api_processes_against_one_on_the_cache_miss_list(
    unlimited_cluster: clusters.Cluster,
) -> None:
    cluster = unlimited_cluster
    _seed(cluster)
    layout = cluster.layout
    one = layout.data / "nginx-one-process"
    one_port = layout.nginx_port + ONE_PROCESS_PORT_OFFSET
    config = engines.render_nginx(
        layout, prefix=one, port=one_port, api_ports=layout.api_ports()[:1]
    )
    nginx = subprocess.Popen(
        [executable("nginx"), "-p", str(one), "-c", str(config), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    script = layout.data / "miss.lua"
    script.write_text(_MISS_SCRIPT)
    try:
        _wait_port(one_port)
        three: list[float] = []
        single: list[float] = []
        for _ in range(ROUNDS):  # interleaved, so both see the same background load
            three.append(_wrk(cluster.url, script))
            single.append(_wrk(f"http://127.0.0.1:{one_port}", script))
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
    ratio = statistics.median(three) / statistics.median(single)
    print(  # noqa: T201
        f"\ncache-miss list through nginx, {CONNECTIONS} connections, {DURATION_S} s x {ROUNDS}:"
        f" 3 API processes {[round(r) for r in three]} req/s,"
        f" 1 process {[round(r) for r in single]} req/s, ratio {ratio:.2f}"
        f" (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
    )
    assert ratio > 0.9


def _seed(cluster: clusters.Cluster) -> None:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_", "REDIS_", "NATS_", "EVENTS_", "MERCATO_"))
    }
    done = subprocess.run(
        [*mercato("seed", "catalog", "--products", str(PRODUCTS), "--categories", "50")],
        env={**environment, **cluster.layout.common_env()},
        cwd=cluster.layout.data,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def _wrk(url: str, script: Path) -> float:
    done = subprocess.run(
        ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{DURATION_S}s", "-s", str(script), url],
        capture_output=True,
        text=True,
        timeout=DURATION_S + 60,
        check=True,
    )
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", done.stdout)
    assert errors is None, done.stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    assert rate is not None, done.stdout
    return float(rate.group(1))


def _wait_port(port: int) -> None:
    deadline = time.monotonic() + 10
    while not clusters.port_open(port):
        assert time.monotonic() < deadline, f"nothing listens on {port}"
        time.sleep(0.1)
