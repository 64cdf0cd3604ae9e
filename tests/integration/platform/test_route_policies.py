"""Every route declares its auth and rate-limit policy, once, and the declaration is what
runs: the policy is read off the dependency that enforces it."""

from __future__ import annotations

from fastapi.routing import APIRoute

from mercato.app import create_app
from mercato.platform.auth import (
    BEARER_SCHEME,
    OPERATOR,
    OPERATOR_SCHEME,
    PUBLIC,
    TokenPolicy,
    policies_of,
)
from mercato.platform.config import Environment, Settings
from mercato.platform.http.openapi import AUTH_EXTENSION, api_routes, route_policy
from mercato.platform.http.policy import RATE_LIMIT_POLICIES


def all_routes(settings: Settings) -> list[APIRoute]:
    app = create_app(settings.model_copy(update={"env": Environment.DEVELOPMENT}))
    routes = list(api_routes(app))
    assert len(routes) >= 30
    return routes


def describe(route: APIRoute) -> str:
    return f"{sorted(route.methods or ())} {route.path}"


def test_every_route_declares_exactly_one_known_policy(settings: Settings) -> None:
    undeclared = [
        describe(route)
        for route in all_routes(settings)
        if len(policies_of(route.dependant)) != 1
        or policies_of(route.dependant)[0].rate_limit.name not in RATE_LIMIT_POLICIES
    ]
    assert undeclared == []


def test_routes_that_need_a_token_say_so_in_the_openapi_document(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"env": Environment.DEVELOPMENT}))
    document = app.openapi()
    for route in api_routes(app):
        policy = route_policy(route)
        assert policy is not None
        if not route.include_in_schema:  # the development pages (HTML)
            continue
        for method in route.methods or ():
            operation = document["paths"][route.path_format][method.lower()]
            assert operation[AUTH_EXTENSION].startswith(policy.auth), describe(route)
            needs_token = policy.auth != PUBLIC and not policy.on_demand
            if needs_token:
                scheme = OPERATOR_SCHEME if policy.auth == OPERATOR else BEARER_SCHEME
                assert operation["security"] == [{scheme: []}], describe(route)
            elif policy.on_demand:  # a token is optional: it unlocks the privileged variants
                assert operation["security"] == [{}, {BEARER_SCHEME: []}], describe(route)
            else:
                assert "security" not in operation, describe(route)


def test_a_public_route_never_authenticates(settings: Settings) -> None:
    for route in all_routes(settings):
        policy = route_policy(route)
        assert policy is not None
        authenticates = any(
            isinstance(child.call, TokenPolicy) for child in route.dependant.dependencies
        )
        # Operator routes take the operators' token, never a user's session.
        needs_user = policy.auth not in (PUBLIC, OPERATOR) and not policy.on_demand
        assert authenticates == needs_user, describe(route)


def test_operations_data_is_not_public(settings: Settings) -> None:
    policies = {route.path: route_policy(route) for route in all_routes(settings)}
    metrics = policies["/metrics"]
    assert metrics is not None
    assert metrics.auth == OPERATOR


def test_administration_routes_need_a_permission(settings: Settings) -> None:
    for route in all_routes(settings):
        if route.path.startswith("/api/v1/admin/"):
            policy = route_policy(route)
            assert policy is not None
            assert policy.permission is not None, describe(route)
