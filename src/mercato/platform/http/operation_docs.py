"""What a context says about its operations beyond what the routes declare.

The OpenAPI document is built from the routes (`platform.http.openapi`): their policy, path
and header parameters, status codes and response models. What a route cannot say without
noise lives in one table per context (`<context>/api_docs.py`), keyed by operationId
(`{tag}-{name}`): a summary where the route has none, examples, the domain errors its use
case answers, the headers it sends. A test fails on an operation without a summary or
examples, and on a table entry that names no operation.

No web imports here: the tables are plain data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

# Success headers a route may send, declared in the document's `components.headers`.
ResponseHeader = Literal["ETag", "Location", "Cache-Control", "Link"]


@dataclass(frozen=True, slots=True)
class OperationDoc:
    """One operation's documentation (every field optional)."""

    summary: str | None = None
    description: str | None = None
    # A request body and a success body, as a client would send and receive them.
    request: Any = None
    response: Any = None
    # Statuses the use case answers beyond those the route's shape implies, and when.
    errors: Mapping[int, str] = field(default_factory=dict)
    # Headers of the success response the route sets itself.
    headers: tuple[ResponseHeader, ...] = ()
    # A cached read: `If-None-Match` answered 304, `ETag` and `Cache-Control` sent.
    conditional: bool = False
    # `Idempotency-Key`: "accepted" (creating POSTs, those answering 201, accept it by
    # default), or "required" (400 without one).
    idempotency: Literal["accepted", "required"] | None = None


OperationDocs = Mapping[str, OperationDoc]
