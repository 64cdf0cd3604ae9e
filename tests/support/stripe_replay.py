"""A replay of Stripe's API: answers recorded JSON (tests/fixtures/stripe) over real HTTP,
records what it received, and injects faults (5xx, 429 + Retry-After, slow answers).

Each route has a queue of replies; the last one repeats, so `reply(..., Reply(500))`
means "always 500" and `reply(..., Reply(500), Reply(fixture=...))` means "one 500, then
the answer". A route nothing was scripted for answers 404 `unscripted_route`.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "stripe"


@dataclass(frozen=True)
class Reply:
    status: int = 200
    fixture: str | None = None  # a file name in tests/fixtures/stripe, without ".json"
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # wait this long before answering (beyond the client's timeout)

    def content(self) -> bytes:
        if self.fixture is not None:
            return (FIXTURES / f"{self.fixture}.json").read_bytes()
        return self.body or b"{}"


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]  # the x-www-form-urlencoded body, keys as Stripe encodes them
    idempotency_key: str | None
    authorization: str | None


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


class StripeReplay:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self._replies: dict[tuple[str, str], deque[Reply]] = {}
        self.app = Starlette(
            routes=[Route("/{path:path}", self._answer, methods=["GET", "POST", "DELETE"])]
        )

    def reply(self, method: str, path: str, *replies: Reply) -> None:
        self._replies[(method.upper(), path)] = deque(replies)

    def reset(self) -> None:
        self.received.clear()
        self._replies.clear()

    def received_at(self, method: str, path: str) -> list[Received]:
        return [r for r in self.received if r.method == method.upper() and r.path == path]

    async def _answer(self, request: Request) -> Response:
        body = (await request.body()).decode()
        self.received.append(
            Received(
                method=request.method,
                path=request.url.path,
                query=dict(parse_qsl(request.url.query, keep_blank_values=True)),
                form=dict(parse_qsl(body, keep_blank_values=True)),
                idempotency_key=request.headers.get("idempotency-key"),
                authorization=request.headers.get("authorization"),
            )
        )
        queue = self._replies.get((request.method, request.url.path))
        if not queue:
            return Response(
                b'{"error": {"type": "invalid_request_error", "code": "unscripted_route",'
                b' "message": "nothing scripted for this route"}}',
                status_code=404,
                media_type="application/json",
            )
        reply = queue.popleft() if len(queue) > 1 else queue[0]
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        return Response(
            reply.content(),
            status_code=reply.status,
            headers={"request-id": "req_replay", **reply.headers},
            media_type="application/json",
        )
