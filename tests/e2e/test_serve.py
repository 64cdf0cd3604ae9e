"""`mercato serve` as a real process: HTTP surface, graceful shutdown."""

from __future__ import annotations

import signal
import threading

import httpx
import pytest

from tests.e2e.conftest import RunningMercato

pytestmark = pytest.mark.e2e


def test_serves_health_docs_and_openapi(served: RunningMercato) -> None:
    ready = httpx.get(f"{served.base_url}/health/ready", headers={"X-Request-ID": "e2e-1"})
    assert ready.status_code == 200
    assert ready.headers["x-request-id"] == "e2e-1"
    assert "server" not in ready.headers
    assert httpx.get(f"{served.base_url}/docs").status_code == 200
    assert httpx.get(f"{served.base_url}/openapi.json").json()["openapi"].startswith("3.1")


def test_metrics_are_scraped_in_prometheus_format(served: RunningMercato) -> None:
    httpx.get(f"{served.base_url}/health/live")
    response = httpx.get(f"{served.base_url}/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    assert 'mercato_http_requests_total{method="GET",route="/health/live",status="200"}' in (
        response.text
    )


def test_sigterm_drains_an_in_flight_request_then_exits_cleanly(
    served: RunningMercato,
) -> None:
    results: list[int] = []

    def slow_request() -> None:
        # /health/ready holds a database round trip; the request must complete.
        with httpx.Client(timeout=10) as client:
            results.append(client.get(f"{served.base_url}/health/ready").status_code)

    worker = threading.Thread(target=slow_request)
    worker.start()
    exit_code = served.stop(signal.SIGTERM)
    worker.join(timeout=10)
    assert exit_code == 0
    assert results in ([200], [])  # either served before shutdown or refused, never cut off
