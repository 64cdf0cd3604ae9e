"""Lean routes (`platform.http.lean_routes`): query models read as FastAPI reads them, and
a lean route needs the token policy it declares."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import QueryParams

from mercato.platform.auth import Principal, require
from mercato.platform.http.lean_routes import QueryModel, lean, token_policy_of


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")

    q: str | None = Field(default=None, min_length=3)
    status: Literal["active", "disabled"] | None = None
    limit: int = Field(default=50, ge=1, le=100)


QUERIES = [
    "",
    "q=abcd&limit=7",
    "q=ab",
    "limit=0",
    "limit=x&status=gone",
    "q=abcd&q=efgh",
    "unknown=1",
    "unknown=1&unknown=2",
    "q=",
]


async def _fastapi_answers(query: str) -> tuple[int, Any]:
    """What FastAPI's own `Annotated[Params, Query()]` makes of `query`."""
    app = FastAPI()

    @app.get("/")
    async def read(params: Annotated[Params, Query()]) -> dict[str, Any]:
        return params.model_dump()

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get(f"/?{query}")
    if response.status_code == 200:
        return 200, response.json()
    return response.status_code, [(e["loc"], e["type"]) for e in response.json()["detail"]]


def _lean_answers(query: str) -> tuple[int, Any]:
    try:
        return 200, QueryModel(Params).parse(QueryParams(query)).model_dump()
    except RequestValidationError as error:
        return 422, [(list(e["loc"]), e["type"]) for e in error.errors()]


@pytest.mark.parametrize("query", QUERIES)
async def test_a_query_model_gives_the_values_and_errors_fastapi_gives(query: str) -> None:
    assert _lean_answers(query) == await _fastapi_answers(query)


def test_a_query_model_refuses_repeated_parameters_it_would_read_differently() -> None:
    class Many(BaseModel):
        tags: list[str] = []

    with pytest.raises(TypeError):
        QueryModel(Many)


async def _answer(request: Request, principal: Principal) -> Response:
    return Response()


async def _declared(reader: Annotated[Principal, Depends(require("users:read"))]) -> None:
    """The declaration."""


async def _undeclared() -> None:
    """No policy."""


def test_a_lean_route_is_authorised_by_the_policy_it_declares() -> None:
    router = APIRouter()
    router.add_api_route("/a", _declared, route_class_override=lean(_answer))
    route = router.routes[0]
    assert token_policy_of(route.dependant).policy.permission == "users:read"  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        router.add_api_route("/b", _undeclared, route_class_override=lean(_answer))
