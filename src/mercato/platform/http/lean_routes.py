"""Hot authenticated reads answered without FastAPI's per-request dependency solving.

FastAPI walks a route's dependency tree and validates its parameter models on every
request, with introspection that costs more than the work of a fast read: on the admin
user search it was about a third of the request's CPU (profiled, docs/benchmarks.md). A
lean route keeps its endpoint's signature as the *declaration* (OpenAPI, the route-policy
walk `policies_of`) and is answered by a plain handler:
- the route's own `TokenPolicy`, the very object its dependency declares, authorises the
  request first (the same checks in the same order: 429, 401, 403 audited);
- the handler parses its query with a `QueryModel` built once, which gives the values and
  the 422 errors FastAPI gives for `Annotated[Model, Query()]` (scalar fields only);
- errors are raised as from any route, so the application's handlers answer them
  (problem+json).
"""

from __future__ import annotations

import collections.abc
import types
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Annotated, Any, ClassVar, Generic, TypeVar, Union, get_args, get_origin

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.datastructures import QueryParams

from mercato.platform.auth import Principal, TokenPolicy

LeanHandler = Callable[[Request, Principal], Awaitable[Response]]
M = TypeVar("M", bound=BaseModel)


class LeanRoute(APIRoute):
    """An `APIRoute` whose requests go to `handler` once its token policy let them in."""

    handler: ClassVar[LeanHandler]

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        policy = token_policy_of(self.dependant)
        handler = type(self).handler

        async def answer(request: Request) -> Response:
            principal = await policy.authorise(request)
            return await handler(request, principal)

        return answer


def lean(handler: LeanHandler) -> type[APIRoute]:
    """The route class for `router.add_api_route(..., route_class_override=lean(handler))`;
    the endpoint given there declares the route, `handler` answers it."""
    return type(f"Lean_{handler.__name__}", (LeanRoute,), {"handler": staticmethod(handler)})


def token_policy_of(dependant: Dependant) -> TokenPolicy:
    """The one token policy a route's dependency tree declares (a lean route needs one)."""
    policies = [call for call in _calls(dependant) if isinstance(call, TokenPolicy)]
    if len(policies) != 1:
        raise TypeError(f"a lean route declares one token policy, not {len(policies)}")
    return policies[0]


def _calls(dependant: Dependant) -> Iterator[object]:
    yield dependant.call
    for child in dependant.dependencies:
        yield from _calls(child)


class QueryModel(Generic[M]):
    """Query parameters into `model` as FastAPI's `Annotated[model, Query()]` reads them:
    a declared parameter's last value, an undeclared one as its value or list of values
    (for the model's `extra` policy to refuse), errors located under `query`."""

    def __init__(self, model: type[M]) -> None:
        self._model = model
        self._names = set()
        for name, field in model.model_fields.items():
            if _is_sequence(field.annotation):
                raise TypeError(f"{model.__name__}.{name}: only scalar query parameters")
            self._names.add(field.alias or name)

    def parse(self, params: QueryParams) -> M:
        values: dict[str, Any] = {}
        for key in params:
            if key in self._names:
                values[key] = params[key]
            else:
                extras = params.getlist(key)
                values[key] = extras[0] if len(extras) == 1 else extras
        try:
            return self._model.model_validate(values)
        except ValidationError as error:
            raise RequestValidationError(
                [{**item, "loc": ("query", *item["loc"])} for item in error.errors()]
            ) from None


_SEQUENCES = (list, tuple, set, frozenset, collections.abc.Sequence, collections.abc.Set)


def _is_sequence(annotation: Any) -> bool:
    """Whether a field takes repeated parameters (FastAPI reads those as lists)."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType, Annotated):
        return any(_is_sequence(arg) for arg in get_args(annotation))
    return (origin or annotation) in _SEQUENCES
