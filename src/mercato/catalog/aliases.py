"""Request lines as cache aliases: what the fast path (`fast_path.py`) looks a cached read
up by, and what it learnt on a miss, handed to the route in the request's state."""

from __future__ import annotations

from starlette.types import Scope

from mercato.catalog.cache import Peek

PEEK_STATE = "catalog_peek"


def alias_of(scope: Scope) -> str:
    """The request line a cached read is remembered under for the fast path."""
    query = scope.get("query_string", b"").decode("latin-1")
    return f"raw:{scope['path']}?{query}"


def peek_of(scope: Scope) -> Peek | None:
    """What the fast path's lookup learnt when it missed (the routes pass it to `fetch`)."""
    peek = scope.get("state", {}).get(PEEK_STATE)
    return peek if isinstance(peek, Peek) else None
