"""Every error leaves as RFC 9457 problem+json, with the right status and no internals."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

PROBLEM = "application/problem+json"


def assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    for member in ("type", "title", "detail", "instance"):
        assert isinstance(body[member], str)
        assert body[member]
    return body  # type: ignore[no-any-return]


async def test_unknown_route_is_a_404_problem(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/no/such/route"), 404)
    assert body["instance"] == "/no/such/route"


async def test_domain_not_found_maps_to_404_with_its_type(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/test/items/101"), 404)
    assert body["type"] == "/problems/not-found"
    assert body["detail"] == "There is no item 101."


async def test_wrong_method_is_405_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.delete("/test/items/1")
    assert_problem(response, 405)
    assert "GET" in response.headers["allow"]


async def test_validation_error_lists_fields_without_echoing_input(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/test/echo",
        json={"name": "", "quantity": 0, "password": 12345678901, "role": "admin"},
    )
    body = assert_problem(response, 422)
    assert body["type"] == "/problems/validation-error"
    pointers = {error["pointer"] for error in body["errors"]}  # type: ignore[attr-defined]
    assert pointers == {"/name", "/quantity", "/password", "/role"}
    assert all(error["in"] == "body" for error in body["errors"])  # type: ignore[attr-defined]
    assert "12345678901" not in response.text


async def test_malformed_json_is_a_422_problem(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/test/echo", content=b'{"name": "x", ', headers={"content-type": "application/json"}
    )
    assert_problem(response, 422)


async def test_path_parameter_violation_is_a_422_problem(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/test/items/0"), 422)
    assert body["errors"][0]["in"] == "path"  # type: ignore[index]


async def test_declared_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post("/test/echo", json={"name": "x" * 5_000, "quantity": 1})
    body = assert_problem(response, 413)
    assert body["type"] == "/problems/payload-too-large"


async def test_streamed_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "'
        for _ in range(10):
            yield b"x" * 1_000
        yield b'", "quantity": 1}'

    response = await client.post(
        "/test/echo", content=chunks(), headers={"content-type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert_problem(response, 413)


async def test_non_json_body_is_415(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/test/echo",
        content=b"name=x",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    body = assert_problem(response, 415)
    assert body["type"] == "/problems/unsupported-media-type"


async def test_json_suffix_media_types_are_accepted(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/test/echo",
        content=b'{"name": "x", "quantity": 2}',
        headers={"content-type": "application/merge-patch+json"},
    )
    assert response.status_code == 201


async def test_unhandled_exception_is_a_500_problem_without_internals(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/test/boom", headers={"X-Request-ID": "trace-500"})
    body = assert_problem(response, 500)
    assert body["type"] == "/problems/internal-error"
    for leak in ("hunter2", "secret.py", "Traceback", "SecretFailure"):
        assert leak not in response.text
    assert response.headers["x-request-id"] == "trace-500"
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_statement_timeout_is_a_retryable_503(client: httpx.AsyncClient) -> None:
    response = await client.get("/test/slow-query")
    body = assert_problem(response, 503)
    assert body["type"] == "/problems/database-unavailable"
    assert response.headers["retry-after"] == "5"
    assert "pg_sleep" not in response.text


@pytest.mark.parametrize("kind", ["nul", "overflow", "json", "int32-parameter"])
async def test_a_data_exception_is_a_422_that_does_not_echo_the_value(
    client: httpx.AsyncClient, kind: str
) -> None:
    """SQLSTATE class 22 (a value PostgreSQL or the driver refuses) is the client's fault:
    the safety net behind the input types, never a 500."""
    response = await client.get(f"/test/data-error/{kind}")
    body = assert_problem(response, 422)
    assert body["type"] == "/problems/invalid-value"
    for leak in ("secret", "NaN", "2147483647", str(2**40), "CAST"):
        assert leak not in response.text


async def test_a_data_exception_in_a_compiled_read_is_a_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/test/data-error-compiled")
    assert_problem(response, 422)


@pytest.mark.parametrize("path", ["/openapi.json", "/health/live"])
async def test_success_responses_stay_plain_json(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
