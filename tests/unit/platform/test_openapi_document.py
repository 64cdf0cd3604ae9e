"""The OpenAPI documents (the API's and the payments service's) describe the API as it
behaves: stable short operationIds, a `Problem` for every error status, the security
scheme from each route's policy, the headers, summaries and examples that validate."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from jsonschema import Draft202012Validator

from mercato.app import create_app
from mercato.modules import MODULES
from mercato.payments.process import MODULES as PAYMENTS_MODULES
from mercato.payments.process import create_payments_app, service_settings
from mercato.platform import dev_api
from mercato.platform.auth import BEARER_SCHEME, OPERATOR, OPERATOR_SCHEME, PUBLIC
from mercato.platform.config import Environment, Settings
from mercato.platform.http.openapi import api_routes, route_policy

PROBLEM_REF = "#/components/schemas/Problem"
METHODS = {"get", "put", "post", "patch", "delete"}


def _api() -> FastAPI:
    return create_app(Settings(env=Environment.DEVELOPMENT))


def _payments() -> FastAPI:
    return create_payments_app(service_settings(Settings(env=Environment.DEVELOPMENT)))


@pytest.fixture(scope="module", params=["api", "payments"])
def app(request: pytest.FixtureRequest) -> FastAPI:
    return _api() if request.param == "api" else _payments()


@pytest.fixture(scope="module")
def document(app: FastAPI) -> dict[str, Any]:
    return app.openapi()


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def test_operation_ids_are_short_unique_and_tagged(document: dict[str, Any]) -> None:
    ids = [operation["operationId"] for _, _, operation in operations(document)]
    assert len(ids) == len(set(ids))
    for path, _, operation in operations(document):
        tag = operation["tags"][0].replace(" ", "-")
        assert operation["operationId"].startswith(f"{tag}-"), path
        assert len(operation["operationId"]) <= 45, operation["operationId"]
    described = {tag["name"] for tag in document["tags"] if tag.get("description")}
    used = {operation["tags"][0] for _, _, operation in operations(document)}
    assert used <= described


def test_a_well_known_operation_id() -> None:
    document = _api().openapi()
    assert document["paths"]["/api/v1/products"]["get"]["operationId"] == "catalog-list-products"


def test_no_fastapi_validation_model_is_left(document: dict[str, Any]) -> None:
    text = str(document)
    assert "HTTPValidationError" not in text
    assert "#/components/schemas/ValidationError" not in text


def test_every_error_status_is_a_problem(document: dict[str, Any]) -> None:
    for path, method, operation in operations(document):
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            content = response["content"]
            assert list(content) == ["application/problem+json"], (path, method, status)
            assert content["application/problem+json"]["schema"] == {"$ref": PROBLEM_REF}
            assert "X-Request-ID" in response["headers"]


def test_the_422_problem_carries_field_errors(document: dict[str, Any]) -> None:
    problem = document["components"]["schemas"]["Problem"]
    assert problem["properties"]["errors"]["items"] == {"$ref": "#/components/schemas/FieldError"}
    field_error = document["components"]["schemas"]["FieldError"]
    assert set(field_error["properties"]) == {"in", "pointer", "detail", "code"}


def test_statuses_follow_from_each_routes_policy_and_shape(app: FastAPI) -> None:
    document = app.openapi()
    for route in api_routes(app):
        policy = route_policy(route)
        assert policy is not None
        if not route.include_in_schema:
            continue
        for method in route.methods or ():
            operation = document["paths"][route.path_format][method.lower()]
            statuses = set(operation["responses"])
            where = f"{method} {route.path}"
            if policy.auth != PUBLIC and not policy.on_demand:
                assert {"401"} <= statuses, where
                scheme = OPERATOR_SCHEME if policy.auth == OPERATOR else BEARER_SCHEME
                assert operation["security"] == [{scheme: []}], where
            if policy.permission is not None:
                assert "403" in statuses, where
            if policy.on_demand:
                assert operation["security"] == [{}, {BEARER_SCHEME: []}], where
            if policy.rate_limit.per_ip is not None:
                assert "429" in statuses, where
            if "{" in route.path_format:
                assert "404" in statuses, where
            if "requestBody" in operation:
                assert {"413", "415", "422"} <= statuses, where


def test_creating_posts_accept_an_idempotency_key(document: dict[str, Any]) -> None:
    for path, method, operation in operations(document):
        if method == "post" and "201" in operation["responses"]:
            names = [parameter["name"] for parameter in operation["parameters"]]
            assert "Idempotency-Key" in names, path
            assert "Idempotent-Replayed" in operation["responses"]["201"]["headers"], path
            assert "409" in operation["responses"], path


def test_headers_are_declared_where_they_are_sent() -> None:
    document = _api().openapi()
    products = document["paths"]["/api/v1/products"]["get"]
    assert {"ETag", "Link", "RateLimit", "X-Request-ID"} <= set(
        products["responses"]["200"]["headers"]
    )
    assert "304" in products["responses"]
    assert "Retry-After" in products["responses"]["429"]["headers"]
    update = document["paths"]["/api/v1/users/me"]["patch"]
    assert {"409", "412", "428"} <= set(update["responses"])
    assert "ETag" in update["responses"]["200"]["headers"]
    for name, header in document["components"]["headers"].items():
        assert header["description"], name


def test_every_operation_has_a_written_summary(app: FastAPI) -> None:
    document = app.openapi()
    for route in api_routes(app):
        if not route.include_in_schema:
            continue
        for method in route.methods or ():
            summary = document["paths"][route.path_format][method.lower()].get("summary")
            generated = route.name.replace("_", " ").title()
            assert summary, f"{method} {route.path}"
            assert summary != generated, f"{method} {route.path}: {summary!r}"


def _validator(document: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(
        {**schema, "components": document["components"]},
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def test_every_json_body_has_an_example_that_validates(document: dict[str, Any]) -> None:
    for path, method, operation in operations(document):
        bodies = [("request", operation.get("requestBody", {}).get("content", {}))]
        bodies += [
            (status, response.get("content", {}))
            for status, response in operation["responses"].items()
        ]
        for where, content in bodies:
            for media_type, body in content.items():
                if "json" not in media_type:
                    continue
                assert "example" in body, (path, method, where)
                _validator(document, body["schema"]).validate(body["example"])


def test_every_table_entry_names_an_operation() -> None:
    for app, modules in ((_api(), MODULES), (_payments(), PAYMENTS_MODULES)):
        ids = {operation["operationId"] for _, _, operation in operations(app.openapi())}
        for module in modules:
            documented = set(module.operations() if module.operations is not None else {})
            assert documented <= ids, (module.name, documented - ids)
    assert set(dev_api.OPERATIONS) <= {
        operation["operationId"] for _, _, operation in operations(_api().openapi())
    }
