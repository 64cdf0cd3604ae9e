"""Request ids in and out, bound into every log line of the request."""

from __future__ import annotations

import io
import re

import httpx
import orjson
import pytest

from mercato.platform.config import LogSettings
from mercato.platform.observability.logging import configure_logging


async def test_a_request_id_is_generated_when_absent(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live")
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


async def test_a_well_formed_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live", headers={"X-Request-ID": "checkout-42:retry.1"})
    assert response.headers["x-request-id"] == "checkout-42:retry.1"


@pytest.mark.parametrize(
    "hostile", ["a" * 129, "id with spaces", "x\u202eevil", '{"json":"injection"}', "-leading"]
)
async def test_a_malformed_request_id_is_replaced(client: httpx.AsyncClient, hostile: str) -> None:
    response = await client.get("/health/live", headers={b"X-Request-ID": hostile.encode("utf-8")})
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


async def test_request_id_and_route_reach_the_access_log(client: httpx.AsyncClient) -> None:
    stream = io.StringIO()
    configure_logging(LogSettings(), stream=stream)
    await client.get("/test/items/7?token=s3cr3t", headers={"X-Request-ID": "log-me-1"})
    lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    access = [line for line in lines if line.get("logger") == "mercato.access"]
    assert len(access) == 1
    entry = access[0]
    assert entry["request_id"] == "log-me-1"
    assert entry["route"] == "/test/items/{item_id}"
    assert entry["path"] == "/test/items/7"
    assert entry["status"] == 200
    assert "s3cr3t" not in stream.getvalue()


async def test_unhandled_errors_are_logged_with_the_request_id(client: httpx.AsyncClient) -> None:
    stream = io.StringIO()
    configure_logging(LogSettings(), stream=stream)
    await client.get("/test/boom", headers={"X-Request-ID": "boom-1"})
    lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    errors = [line for line in lines if line["event"] == "unhandled_error"]
    assert len(errors) == 1
    assert errors[0]["request_id"] == "boom-1"
    assert "SecretFailure" in errors[0]["exception"]
