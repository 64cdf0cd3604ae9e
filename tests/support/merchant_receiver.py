"""A merchant's webhook receiver for tests: verifies every delivery with the reference
Standard Webhooks library and answers from a script (status, headers, body, delay)."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field

from standardwebhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass(frozen=True)
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    delay_s: float = 0.0


@dataclass(frozen=True)
class Delivery:
    headers: dict[str, str]
    body: bytes
    verified: bool  # the signature verified with the receiver's secret


class WebhookReceiver:
    def __init__(self) -> None:
        self.secret: str | None = None
        self.deliveries: list[Delivery] = []
        self._answers: deque[Answer] = deque()
        self.app = Starlette(routes=[Route("/{path:path}", self._receive, methods=["POST"])])

    def reset(self, *, secret: str, answers: list[Answer] | None = None) -> None:
        self.secret = secret
        self.deliveries.clear()
        self._answers = deque(answers or [Answer()])

    async def _receive(self, request: Request) -> Response:
        body = await request.body()
        headers = dict(request.headers)
        try:
            assert self.secret is not None
            Webhook(self.secret).verify(body, headers)
            verified = True
        except WebhookVerificationError:
            verified = False
        self.deliveries.append(Delivery(headers, body, verified))
        answer = self._answers.popleft() if len(self._answers) > 1 else self._answers[0]
        if answer.delay_s:
            await asyncio.sleep(answer.delay_s)
        return Response(answer.body, status_code=answer.status, headers=answer.headers)
