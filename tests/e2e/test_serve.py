"""`mercato serve` as a real process: HTTP surface, graceful shutdown."""

from __future__ import annotations

import signal
import threading

import httpx
import pytest

from tests.e2e.conftest import RunningMercato, free_port, mercato_env, start_mercato

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


def test_sigterm_shuts_down_cleanly_with_exit_0(served: RunningMercato) -> None:
    outcomes: list[str] = []

    def request_during_shutdown() -> None:
        try:
            with httpx.Client(timeout=10) as client:
                outcomes.append(str(client.get(f"{served.base_url}/health/ready").status_code))
        except httpx.TransportError:
            outcomes.append("refused")

    worker = threading.Thread(target=request_during_shutdown)
    worker.start()
    exit_code = served.stop(signal.SIGTERM)
    worker.join(timeout=15)
    assert exit_code == 0, served.output()
    # Answered in full before the listener closed, or refused: never a 5xx or a cut-off.
    assert outcomes in (["200"], ["refused"])
    assert '"event":"shutdown"' in served.output()


def test_empty_variables_mean_unset_at_start_up(database_url: str) -> None:
    """`REDIS_URL=` and friends (as in many `.env` files) start the API without them."""
    env = mercato_env(
        DATABASE_URL=database_url,
        MERCATO_PORT=str(free_port()),
        REDIS_URL="",
        SMTP_URL="",
        IDENTITY_PUBLIC_URL="",
        NATS_URL="",
    )
    server = start_mercato("serve", env=env)
    try:
        server.wait_ready()
    finally:
        assert server.stop() == 0, server.output()
    assert "Traceback" not in server.output()
