"""The OpenAPI document describes the API as it behaves, derived from what routes declare.

Each operation is completed once, centrally, when the document is first built:
- its id is `{tag}-{name}` (`catalog-list-products`), short and stable for generators;
- every error status it can answer is declared with the `Problem` schema the server
  really sends (`application/problem+json`, `errors[]` on 422), from its shape: its policy
  (a token route answers 401, a permission 403, a limited one 429), its parameters (422;
  a path parameter 404; `If-Match` 409/412/428), a request body (413/415), the database
  behind it (503), and its context's table (`OperationDoc.errors`);
- its security requirement comes from the policy dependency (`platform.auth`: a token
  route declares the bearer scheme; an on-demand route makes it optional here);
- the headers it sends and accepts (X-Request-ID, RateLimit, ETag, Link, Location,
  Idempotency-Key, If-None-Match...) and its context's summary and examples are added;
- `x-mercato-auth` and `x-mercato-rate-limit` carry the policy (the route walk test).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from mercato.platform.auth import BEARER_SCHEME, OnDemandPolicy, Policy, TokenPolicy, policies_of
from mercato.platform.deps import get_database, get_unit_of_work
from mercato.platform.http import openapi_components as parts
from mercato.platform.http.middleware import REQUEST_ID_HEADER
from mercato.platform.http.operation_docs import OperationDoc, OperationDocs
from mercato.platform.idempotency import HEADER as IDEMPOTENCY_KEY
from mercato.platform.idempotency import REPLAYED_HEADER
from mercato.platform.listing import Page

AUTH_EXTENSION = "x-mercato-auth"
RATE_LIMIT_EXTENSION = "x-mercato-rate-limit"
JSON = "application/json"
_NOT_A_NAME = re.compile(r"[^a-z0-9]+")
_DATABASE_DEPENDENCIES = (get_database, get_unit_of_work)
_IF_MATCH = (
    'The ETag of your read (`"<version>"`): 412 when it is no longer current. Or send '
    "`version` in the body (409 when stale)."
)


def operation_id(route: APIRoute) -> str:
    """`{tag}-{name}` in kebab case: the route's first tag and its function's name."""
    tag = str(route.tags[0]) if route.tags else "api"
    return f"{_kebab(tag)}-{_kebab(route.name)}"


def _kebab(text: str) -> str:
    return _NOT_A_NAME.sub("-", text.lower()).strip("-")


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


def describe_api(app: FastAPI, docs: OperationDocs) -> None:
    """Complete the document `app.openapi()` builds (once), as the module docstring says;
    `docs` are the contexts' tables, by operationId."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        components = document.setdefault("components", {})
        parts.install(components)
        scheme = components.get("securitySchemes", {}).get(BEARER_SCHEME)
        if scheme is not None:
            scheme["bearerFormat"] = "JWT"
        done: set[tuple[str, str]] = set()
        for route in api_routes(app):
            for method in sorted(route.methods or ()):
                key = (route.path_format, method.lower())
                operation = document.get("paths", {}).get(key[0], {}).get(key[1])
                if operation is None or key in done:
                    continue
                done.add(key)
                _Operation(route, operation, docs.get(operation["operationId"])).describe()
        return document

    app.openapi = openapi  # type: ignore[method-assign]


class _Operation:
    """One operation of the document, completed from its route and its context's doc."""

    def __init__(self, route: APIRoute, operation: dict[str, Any], doc: OperationDoc | None):
        self.route = route
        self.operation = operation
        self.doc = doc or OperationDoc()
        self.policy = route_policy(route)
        # Before the headers added here: what the route itself validates (422 when wrong).
        self.takes_input = bool(operation.get("parameters")) or "requestBody" in operation
        self.parameters: list[dict[str, Any]] = operation.setdefault("parameters", [])

    def describe(self) -> None:
        if self.doc.summary:
            self.operation["summary"] = self.doc.summary
        if self.doc.description:
            self.operation["description"] = self.doc.description
        if self.policy is not None:
            self._describe_policy(self.policy)
        self._describe_parameters()
        self._describe_errors()
        self._describe_success()
        if not self.parameters:
            del self.operation["parameters"]

    def _describe_policy(self, policy: Policy) -> None:
        auth = f"{policy.auth} (on demand)" if policy.on_demand else policy.auth
        self.operation[AUTH_EXTENSION] = auth
        self.operation[RATE_LIMIT_EXTENSION] = policy.rate_limit.name
        if policy.on_demand:
            # Anyone may call it; a token (and the permission) unlocks the privileged variants.
            self.operation["security"] = [{}, {BEARER_SCHEME: []}]

    @property
    def _limited(self) -> bool:
        limit = self.policy.rate_limit if self.policy is not None else None
        return limit is not None and (limit.per_ip is not None or limit.per_user is not None)

    @property
    def _idempotency(self) -> str | None:
        if self.doc.idempotency is not None:
            return self.doc.idempotency
        creates = "POST" in (self.route.methods or ()) and self.route.status_code == 201
        return "accepted" if creates else None

    def _header_parameter(self, name: str) -> dict[str, Any] | None:
        return next(
            (
                parameter
                for parameter in self.parameters
                if parameter.get("in") == "header" and parameter["name"].lower() == name.lower()
            ),
            None,
        )

    def _describe_parameters(self) -> None:
        if_match = self._header_parameter("If-Match")
        if if_match is not None:
            if_match["description"] = _IF_MATCH
        # Inline, not `$ref`: every tool reading parameters sees their name and place.
        idempotency = self._idempotency
        if idempotency is not None:
            key = dict(parts.PARAMETERS[IDEMPOTENCY_KEY], required=idempotency == "required")
            self.parameters.append(key)
        if self.doc.conditional:
            self.parameters.append(dict(parts.PARAMETERS["If-None-Match"]))

    def _error_statuses(self) -> dict[int, str | None]:
        """Each error status this operation can answer, with a description of its own
        where the context's table gives one."""
        statuses: dict[int, str | None] = {}
        has_body = "requestBody" in self.operation
        if self.takes_input:
            statuses[422] = None
        if has_body:
            statuses[413] = statuses[415] = None
        if any(parameter.get("in") == "path" for parameter in self.parameters):
            statuses[404] = None
        if self._header_parameter("If-Match") is not None:
            statuses[409] = statuses[412] = statuses[428] = None
        if self.policy is not None and (self.policy.auth != "public" or self.policy.on_demand):
            statuses[401] = None
            if self.policy.permission is not None:
                statuses[403] = None
        if self._idempotency is not None:
            statuses[409] = None
            if self._idempotency == "required":
                statuses[400] = "Send an Idempotency-Key: this request must be retryable."
        if self._limited:
            statuses[429] = None
        if _uses_database(self.route.dependant):
            statuses[503] = None
        statuses.update(self.doc.errors)
        return statuses

    def _describe_errors(self) -> None:
        responses: dict[str, Any] = self.operation.setdefault("responses", {})
        for code, response in list(responses.items()):
            if _is_fastapi_validation_error(response):
                del responses[code]
        # The route's own error declarations, then what its shape and its table imply.
        statuses: dict[int, str | None] = {
            int(code): None for code in responses if code.isdigit() and int(code) >= 400
        }
        statuses.update(self._error_statuses())
        path = self.route.path_format
        for status, description in sorted(statuses.items()):
            # Every error is a problem: a route's own declaration keeps its description.
            declared = responses.get(str(status), {}).get("description")
            response = parts.error_response(status, path=path, description=description or declared)
            response["headers"] = self._error_headers(status)
            responses[str(status)] = response

    def _error_headers(self, status: int) -> dict[str, Any]:
        names = [REQUEST_ID_HEADER]
        if status == 401:
            names.append("WWW-Authenticate")
        if status in (429, 503):
            names.append("Retry-After")
        if status == 429:
            names += ["RateLimit", "RateLimit-Policy"]
        return {name: parts.ref("headers", name) for name in names}

    def _describe_success(self) -> None:
        responses: dict[str, Any] = self.operation["responses"]
        names = [REQUEST_ID_HEADER]
        if self._limited:
            names += ["RateLimit", "RateLimit-Policy"]
        names += list(self.doc.headers)
        if self.doc.conditional or self._header_parameter("If-Match") is not None:
            names.append("ETag")
        if self.doc.conditional:
            names.append("Cache-Control")
        if _is_page(self.route.response_model):
            names.append("Link")
        if self._idempotency is not None:
            names.append(REPLAYED_HEADER)
        headers = {name: parts.ref("headers", name) for name in dict.fromkeys(names)}
        for status, response in responses.items():
            if status.startswith("2"):
                response["headers"] = headers
                content = response.get("content", {}).get(JSON)
                if content is not None and self.doc.response is not None:
                    content["example"] = self.doc.response
        if self.doc.conditional:
            cached = ("ETag", "Cache-Control", REQUEST_ID_HEADER)
            responses["304"] = {
                "description": "Not Modified: the ETag in If-None-Match is current (no body).",
                "headers": {name: parts.ref("headers", name) for name in cached},
            }
        body = self.operation.get("requestBody", {}).get("content", {}).get(JSON)
        if body is not None and self.doc.request is not None:
            body["example"] = self.doc.request


def _is_fastapi_validation_error(response: dict[str, Any]) -> bool:
    schema = response.get("content", {}).get(JSON, {}).get("schema", {})
    return bool(schema.get("$ref", "").endswith("/HTTPValidationError"))


def _is_page(model: object) -> bool:
    return isinstance(model, type) and issubclass(model, Page)


def _uses_database(dependant: Any) -> bool:
    """Whether answering needs the database (so it may answer 503): a unit of work or the
    database as a dependency, or a caller authenticated against their live session."""
    call = dependant.call
    if call in _DATABASE_DEPENDENCIES or isinstance(call, TokenPolicy | OnDemandPolicy):
        return True
    return any(_uses_database(child) for child in dependant.dependencies)
