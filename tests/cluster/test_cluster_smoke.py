"""The scale-out cluster starts, answers through nginx from the API and the payments
service, and stops every process (a reduced topology: 2 API processes, 1 payments
process, 1 worker, no replica; `make test-slow` runs the whole one)."""

from __future__ import annotations

import os
import uuid

import pytest

from mercato.cluster.topology import Shape
from tests.support import cluster as clusters

SMOKE_BASE_PORT = 18600


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.timeout(180)
async def test_the_cluster_serves_the_api_and_payments_through_nginx_then_stops() -> None:
    clusters.require_engines()
    shape = Shape(api=2, payments=1, workers=1, replica=False, demo_products=0)
    data = clusters.data_directory("smoke")
    try:
        running = clusters.start(data, base_port=SMOKE_BASE_PORT, shape=shape)
    except Exception:
        clusters.remove(data)
        raise
    try:
        request_ids = [f"smoke-{uuid.uuid4().hex}" for _ in range(4)]
        async with clusters.client(running.url) as http:
            for request_id in request_ids:
                answer = await http.get(
                    "/api/v1/products", params={"limit": 1}, headers={"X-Request-ID": request_id}
                )
                assert answer.status_code == 200
                assert answer.headers["x-request-id"] == request_id
            assert (await http.get("/payments/health/ready")).status_code == 200
            document = (await http.get("/payments/openapi.json")).json()
            assert document["info"]["title"] == "Mercato Payments"
        served_by = {
            line["upstream"] for line in running.nginx_log() if line["request_id"] in request_ids
        }
        api_ports = {f"127.0.0.1:{port}" for port in running.layout.api_ports()}
        assert served_by == api_ports, "round robin spreads four requests over both processes"
        pids = [entry["pid"] for entry in running.state()["processes"].values()]
        supervisor = running.state()["supervisor_pid"]
    finally:
        clusters.stop(running)
        clusters.remove(data)
    assert not _alive(supervisor)
    assert [pid for pid in pids if _alive(pid)] == []
