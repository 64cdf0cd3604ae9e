"""Every route declares its auth and rate-limit policy, and the declaration is true."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from mercato.app import create_app
from mercato.identity.dependencies import current_principal
from mercato.platform.config import Environment, Settings
from mercato.platform.http.policy import AUTH_KEY, PUBLIC, RATE_LIMIT_KEY, RATE_LIMIT_POLICIES


def calls(dependant: Dependant) -> Iterator[object]:
    yield dependant.call
    for child in dependant.dependencies:
        yield from calls(child)


def flatten(routes: Iterable[object]) -> Iterator[APIRoute]:
    """FastAPI keeps included routers as objects; their routes are in their contexts."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        for context in getattr(route, "effective_route_contexts", lambda: ())():
            if isinstance(context.original_route, APIRoute):
                yield context.original_route


def api_routes(settings: Settings) -> list[APIRoute]:
    app = create_app(settings.model_copy(update={"env": Environment.DEVELOPMENT}))
    routes = list(flatten(app.routes))
    assert len(routes) >= 12
    return routes


def test_every_route_declares_a_known_policy(settings: Settings) -> None:
    undeclared = [
        f"{sorted(route.methods or ())} {route.path}"
        for route in api_routes(settings)
        if not route.openapi_extra
        or route.openapi_extra.get(RATE_LIMIT_KEY) not in RATE_LIMIT_POLICIES
        or not isinstance(route.openapi_extra.get(AUTH_KEY), str)
    ]
    assert undeclared == []


def test_routes_that_authenticate_do_not_claim_to_be_public(settings: Settings) -> None:
    for route in api_routes(settings):
        authenticates = current_principal in set(calls(route.dependant))
        declared_public = (
            route.openapi_extra is not None and route.openapi_extra[AUTH_KEY] == PUBLIC
        )
        assert authenticates != declared_public, route.path
