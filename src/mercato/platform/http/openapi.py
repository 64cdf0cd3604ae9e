"""The OpenAPI document tells the truth about each route's policy.

The security requirement comes from the policy dependency itself (`platform.auth`: routes
that need a token declare the bearer scheme); here each operation also gets
`x-mercato-auth` and `x-mercato-rate-limit`, read off the same dependency.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from mercato.platform.auth import Policy, policies_of

AUTH_EXTENSION = "x-mercato-auth"
RATE_LIMIT_EXTENSION = "x-mercato-rate-limit"


def api_routes(app: FastAPI) -> Iterator[APIRoute]:
    """Every API route of `app`, including those of included routers (which FastAPI keeps
    as objects of their own, their routes in their contexts)."""
    for route in app.routes:
        if isinstance(route, APIRoute):
            yield route
        for context in getattr(route, "effective_route_contexts", lambda: ())():
            if isinstance(context.original_route, APIRoute):
                yield context.original_route


def route_policy(route: APIRoute) -> Policy | None:
    """The policy a route declares (None if it declares none; a test fails on that)."""
    found = policies_of(route.dependant)
    return found[0] if len(found) == 1 else None


def describe_policies(app: FastAPI) -> None:
    """Add each operation's policy to the document `app.openapi()` builds (once)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        for route in api_routes(app):
            policy = route_policy(route)
            if policy is None:
                continue
            operations = document.get("paths", {}).get(route.path_format, {})
            for method in route.methods or ():
                operation = operations.get(method.lower())
                if operation is not None:
                    auth = f"{policy.auth} (on demand)" if policy.on_demand else policy.auth
                    operation[AUTH_EXTENSION] = auth
                    operation[RATE_LIMIT_EXTENSION] = policy.rate_limit.name
        return document

    app.openapi = openapi  # type: ignore[method-assign]
