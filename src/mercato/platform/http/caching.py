"""HTTP caching of reads: strong ETags over the exact bytes sent, `If-None-Match` → 304."""

from __future__ import annotations

import hashlib

from starlette.requests import Request
from starlette.responses import Response

JSON = "application/json"


def strong_etag(body: bytes) -> str:
    """A strong validator: the same bytes, the same tag (and only them)."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _matches(if_none_match: str, etag: str) -> bool:
    # If-None-Match compares weakly: W/"x" matches "x".
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


def cached_read(
    request: Request,
    *,
    body: bytes,
    etag: str,
    cache_control: str,
    headers: dict[str, str] | None = None,
) -> Response:
    """200 with the body, or 304 when the client already holds these exact bytes."""
    common = {"ETag": etag, "Cache-Control": cache_control, **(headers or {})}
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None and _matches(if_none_match, etag):
        return Response(status_code=304, headers=common)
    return Response(content=body, media_type=JSON, headers=common)
