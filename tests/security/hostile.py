"""Hostile values for every kind of input, and requests built from the OpenAPI document.

Each value is one a client can send and that once reached PostgreSQL, the driver or an
encoder unrefused: NUL, lone surrogates, integers beyond 32 and 64 bits, non-finite
numbers, deep nesting, Unicode digits, timestamps outside PostgreSQL's range, forged
cursors. The walk (`requests_for`) puts each into one parameter or body field at a time,
the rest of the request valid, so the value travels as far as the application lets it.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

import httpx

DEEP = 500
_PLACEHOLDER = "__hostile_value__"

# Raw JSON (not Python values: NaN, Infinity and 1e999 only exist as text on the wire).
JSON_VALUES: tuple[str, ...] = (
    r'"\u0000"',
    r'"a\u0000b"',
    r'"\ud800"',
    r'"x\udfffy"',
    r'"a\u001bb"',
    str(2**31),
    str(-(2**31) - 1),
    str(2**63),
    str(2**64),
    str(-(2**63) - 1),
    "1" + "0" * 40,
    "NaN",
    "Infinity",
    "-Infinity",
    "1e999",
    "-1e999",
    "[" * DEEP + "]" * DEEP,
    '{"a":' * DEEP + "1" + "}" * DEEP,
    r'{"k\u0000": 1}',
    r'{"\ud800": 1}',
    r'{"k": "\u0000"}',
    r'{"k": NaN}',
    r'{"k": 1e999}',
    '{"k": ' + str(2**64) + "}",
    r'["\u0000"]',
    r'["\ud800"]',
    '"\u0661\u0662\u0663"',  # Arabic-Indic digits: int() reads them
    '"\u00b2"',  # superscript two: isdigit() is true, int() fails
)

# Already percent-encoded: surrogates and bad UTF-8 can only arrive this way in a URL.
URL_VALUES: tuple[str, ...] = (
    "%00",
    "a%00b",
    "%ED%A0%80",
    "%C0%80",
    "%FF",
    "%1B",
    str(2**31),
    str(2**63),
    str(2**64),
    str(-(2**63) - 1),
    "NaN",
    "Infinity",
    "1e999",
    "%D9%A1%D9%A2",
    "%C2%B2",
    quote("0001-01-01T00:00:00+14:00", safe=""),
    quote("9999-12-31T23:59:59-14:00", safe=""),
    "x" * 2_000,
)

# Header values as bytes (a server decodes them as Latin-1: "²" is the Unicode digit that
# can arrive in a header).
HEADER_VALUES: tuple[bytes, ...] = (
    b'"\xb2"',
    b'"\xb9\xb2\xb3"',
    '"\u0661"'.encode(),
    b'"' + b"9" * 150 + b'"',
    b'"99999999999"',
    b'"-1"',
    b'"1e999"',
    b'W/"1"',
    b"\xff\xfe",
    b'*, "1"',
)

# Cursor values, each put in one position of an otherwise well-formed cursor.
CURSOR_VALUES: tuple[Any, ...] = (
    "\x00",
    "a\x00b",
    "\ud800",
    2**31,
    2**63,
    2**64,
    -(2**63) - 1,
    1e308,
    float("nan"),
    float("inf"),
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "2026-01-01T00:00:00",
    "not a value",
    True,
    None,
    [1, [2, [3]]],
    {"k": 1},
)


def forged_cursor(sort: str, values: list[Any]) -> str:
    """A cursor as `platform.listing` encodes one, with whatever values."""
    raw = json.dumps({"s": sort, "v": values}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def deep_cursor() -> str:
    return base64.urlsafe_b64encode(b"[" * 700 + b"]" * 700).rstrip(b"=").decode()


Headers = tuple[tuple[bytes, bytes], ...]
_JSON: Headers = ((b"content-type", b"application/json"),)
# Headers every route reads without declaring them in the document.
IMPLICIT_HEADERS = (b"authorization", b"idempotency-key", b"x-request-id", b"x-forwarded-for")


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    what: str
    content: bytes | None = None
    headers: Headers = ()

    @property
    def authenticates(self) -> bool:
        """Whether it carries its own (hostile) Authorization header."""
        return any(name == b"authorization" for name, _ in self.headers)


@dataclass
class Fixtures:
    """Valid values for the walk: path parameters and base bodies (by schema name)."""

    path: dict[str, str]
    bodies: dict[str, dict[str, Any]]
    cursors: dict[str, list[str]]


def resolve(document: Mapping[str, Any], schema: Mapping[str, Any]) -> Mapping[str, Any]:
    """The schema a `$ref` (or an `anyOf` with null, for optional bodies) points at."""
    if "anyOf" in schema:
        schema = next(s for s in schema["anyOf"] if s.get("type") != "null")
    ref = schema.get("$ref")
    if ref is None:
        return schema
    name = ref.rsplit("/", 1)[-1]
    resolved: Mapping[str, Any] = document["components"]["schemas"][name]
    return resolved


def body_schema_name(operation: Mapping[str, Any]) -> str | None:
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if content is None:
        return None
    schema = content["schema"]
    if "anyOf" in schema:
        schema = next(s for s in schema["anyOf"] if s.get("type") != "null")
    return str(schema["$ref"].rsplit("/", 1)[-1])


def requests_for(
    document: Mapping[str, Any], path: str, method: str, fixtures: Fixtures
) -> Iterator[Request]:
    """Every hostile variant of one operation: each parameter (and the headers every route
    reads), each body field, the whole body; the rest of the request valid."""
    operation = _Operation(document, path, method, fixtures)
    yield from operation.parameters()
    yield from operation.implicit_headers()
    yield from operation.bodies()


class _Operation:
    def __init__(
        self, document: Mapping[str, Any], path: str, method: str, fixtures: Fixtures
    ) -> None:
        self.operation = document["paths"][path][method]
        self.document, self.path, self.method, self.fixtures = document, path, method, fixtures
        self.declared = self.operation.get("parameters", [])
        schema_name = body_schema_name(self.operation)
        self.base = fixtures.bodies[schema_name] if schema_name is not None else None
        self.content = json.dumps(self.base).encode() if self.base is not None else None
        self.headers: Headers = (*_JSON, (b"if-match", b"*")) if self.base is not None else ()
        self.valid_path = {
            p["name"]: fixtures.path[p["name"]] for p in self.declared if p["in"] == "path"
        }
        self.name = f"{method.upper()} {path}"

    def url(self, path_values: Mapping[str, str] | None = None, query: str = "") -> str:
        filled = self.path
        for key, value in (path_values or self.valid_path).items():
            filled = filled.replace("{" + key + "}", value)
        return f"{filled}?{query}" if query else filled

    def with_header(self, header: bytes, raw: bytes, *, url: str | None = None) -> Request:
        kept = tuple(pair for pair in self.headers if pair[0] != header)
        what = f"{self.name} header {header.decode()}={raw[:40]!r}"
        return Request(self.method, url or self.url(), what, self.content, (*kept, (header, raw)))

    def parameters(self) -> Iterator[Request]:
        for parameter in self.declared:
            where, key = parameter["in"], parameter["name"]
            if where == "path":
                for value in URL_VALUES:
                    url = self.url({**self.valid_path, key: value})
                    what = f"{self.name} path {key}={value[:40]}"
                    yield Request(self.method, url, what, self.content, self.headers)
            elif where == "query":
                cursors = self.fixtures.cursors.get(self.path, []) if key == "cursor" else []
                for value in [*URL_VALUES, *cursors]:
                    what = f"{self.name} query {key}={value[:40]}"
                    yield Request(self.method, self.url(query=f"{key}={value}"), what)
            elif where == "header":
                yield from (self.with_header(key.lower().encode(), raw) for raw in HEADER_VALUES)
            else:
                cookie = f"{key}=".encode()
                yield from (self.with_header(b"cookie", cookie + raw) for raw in HEADER_VALUES)

    def implicit_headers(self) -> Iterator[Request]:
        """Headers every route reads (middleware, authentication, idempotency). The body
        carries an unknown field, refused only after the dependencies have run: a body that
        is valid elsewhere could sign the caller out or hash a password per request. Except
        Idempotency-Key, with the valid body, where the route says it accepts one (the
        admin creates)."""
        refused = json.dumps({**self.base, "unexpected": 1}).encode() if self.base else None
        # Nothing there: a body-less DELETE must not delete the fixtures.
        missing = self.url({key: str(uuid.uuid4()) for key in self.valid_path})
        for header in IMPLICIT_HEADERS:
            valid_body = self.accepts_idempotency_key and header == b"idempotency-key"
            for raw in HEADER_VALUES:
                values = [raw, b"Bearer " + raw] if header == b"authorization" else [raw]
                for value in values:
                    if valid_body:
                        yield self.with_header(header, value)
                    else:
                        request = self.with_header(header, value, url=missing)
                        yield replace(request, content=refused)

    @property
    def accepts_idempotency_key(self) -> bool:
        return "Idempotency-Key" in self.operation.get("summary", "")

    def bodies(self) -> Iterator[Request]:
        if self.base is None:
            return
        schema = self.operation["requestBody"]["content"]["application/json"]["schema"]
        for key in resolve(self.document, schema).get("properties", {}):
            template = json.dumps({**self.base, key: _PLACEHOLDER})
            for raw_json in JSON_VALUES:
                body = template.replace(json.dumps(_PLACEHOLDER), raw_json).encode()
                what = f"{self.name} body {key}={raw_json[:40]}"
                yield Request(self.method, self.url(), what, body, self.headers)
        for raw_json in JSON_VALUES:
            what = f"{self.name} body={raw_json[:40]}"
            yield Request(self.method, self.url(), what, raw_json.encode(), self.headers)


def random_id() -> str:
    return str(uuid.uuid4())


def problems(response: httpx.Response, request: Request) -> list[str]:
    """What is wrong with the answer to a hostile request: a 5xx, an error that is not
    problem+json, or one that echoes the submitted value."""
    if response.status_code >= 500:
        return [f"{request.what}: {response.status_code} {response.text[:200]}"]
    if response.status_code < 400:
        return []
    found = []
    if response.headers.get("content-type") != "application/problem+json":
        found.append(f"{request.what}: {response.status_code} without a problem body")
    if "\\u0000" in response.text or "\\ud800" in response.text or "\x00" in response.text:
        found.append(f"{request.what}: the error echoes the submitted value")
    return found


async def send(client: httpx.AsyncClient, request: Request, auth: dict[str, str]) -> httpx.Response:
    """`request`, with the caller's token instead of any Authorization it carries."""
    headers = list(request.headers)
    if auth:
        headers = [pair for pair in headers if pair[0] != b"authorization"]
        headers.extend((name.lower().encode(), value.encode()) for name, value in auth.items())
    return await client.request(
        request.method, request.url, content=request.content, headers=headers
    )
