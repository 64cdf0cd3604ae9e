"""A real webhook endpoint for the sandbox to deliver to: it records every delivery and
fails on demand (an intent's `metadata.fail_webhooks = "N"` makes its events' first N
deliveries answer 500)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

PATH = "/webhooks/sandbox"


@dataclass(frozen=True)
class Delivery:
    body: bytes
    headers: dict[str, str]
    status: int  # what the receiver answered
    at: float  # time.monotonic()

    @property
    def event(self) -> dict[str, Any]:
        event: dict[str, Any] = json.loads(self.body)
        return event

    @property
    def object_id(self) -> str:
        return str(self.event["data"]["object"]["id"])


class WebhookReceiver:
    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.app = Starlette(routes=[Route(PATH, self._receive, methods=["POST"])])

    async def _receive(self, request: Request) -> Response:
        body = await request.body()
        event = json.loads(body)
        metadata = event["data"]["object"].get("metadata") or {}
        failures = int(metadata.get("fail_webhooks", "0"))
        earlier = sum(1 for d in self.deliveries if d.event["id"] == event["id"])
        status = 500 if earlier < failures else 200
        self.deliveries.append(Delivery(body, dict(request.headers), status, time.monotonic()))
        return Response(status_code=status)

    def about(self, object_id: str) -> list[Delivery]:
        return [d for d in self.deliveries if d.object_id == object_id]

    async def wait_for(
        self, predicate: Callable[[list[Delivery]], bool], *, object_id: str, seconds: float = 5
    ) -> list[Delivery]:
        """The deliveries about `object_id` once `predicate` holds (bounded wait)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = self.about(object_id)
            if predicate(found):
                return found
            await asyncio.sleep(0.02)
        raise AssertionError(f"deliveries about {object_id}: {self.about(object_id)}")
