"""Security headers on every response, and CORS only for allow-listed origins."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import TEST_ORIGIN

EXPECTED = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/health/live", 200),
        ("GET", "/missing", 404),
        ("DELETE", "/health/live", 405),
        ("GET", "/test/boom", 500),
        ("POST", "/test/echo", 415),
    ],
)
async def test_headers_are_on_every_response(
    client: httpx.AsyncClient, method: str, path: str, status: int
) -> None:
    response = await client.request(
        method, path, content=b"x", headers={"content-type": "text/plain"}
    )
    assert response.status_code == status
    for header, value in EXPECTED.items():
        assert response.headers[header] == value
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert "server" not in response.headers


async def test_docs_get_a_csp_that_lets_swagger_load(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    assert "script-src" in csp
    assert "frame-ancestors 'none'" in csp


async def test_hsts_is_sent_over_https(client: httpx.AsyncClient) -> None:
    plain = await client.get("/health/live")
    secure = await client.get("https://testserver/health/live")
    assert "strict-transport-security" not in plain.headers
    assert secure.headers["strict-transport-security"].startswith("max-age=")


async def test_preflight_from_an_allowed_origin_is_answered(client: httpx.AsyncClient) -> None:
    response = await client.options(
        "/test/echo",
        headers={
            "Origin": TEST_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,idempotency-key",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == TEST_ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "Origin" in response.headers["vary"]


@pytest.mark.parametrize("origin", ["https://evil.example.com", "null", TEST_ORIGIN + ".evil.io"])
async def test_other_origins_get_no_cors_grant(client: httpx.AsyncClient, origin: str) -> None:
    preflight = await client.options(
        "/test/echo", headers={"Origin": origin, "Access-Control-Request-Method": "POST"}
    )
    simple = await client.get("/health/live", headers={"Origin": origin})
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in simple.headers


async def test_simple_request_from_allowed_origin_is_granted(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live", headers={"Origin": TEST_ORIGIN})
    assert response.headers["access-control-allow-origin"] == TEST_ORIGIN
    assert "x-request-id" in response.headers["access-control-expose-headers"].lower()
