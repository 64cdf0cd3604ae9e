"""JetStream publishes with many acknowledgements outstanding, over public nats-py calls.

Each publish goes out as a plain NATS message whose reply subject is under one inbox the
publisher subscribes to; JetStream answers there with the PubAck, or with an error (a
refused message, a missing stream), which fails that publish at once. nats-py's own
`publish_async` does the same but drops error replies (the future then waits out its
timeout), and its request-per-publish `publish` costs a quarter more per message.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import Header

_NO_RESPONDERS = "503"


class PublishRefused(Exception):
    """JetStream answered with an error (its description is the message)."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(f"{error.get('description', 'refused')} (code {error.get('err_code')})")
        self.error = error


class NoStreamForSubject(Exception):
    """Nobody answered: no stream captures the subject (or the broker lost it)."""


class PipelinedPublisher:
    def __init__(self, client: Client) -> None:
        self._client = client
        self._reply_prefix: str | None = None
        self._waiting: dict[str, asyncio.Future[None]] = {}
        self._tokens = itertools.count()

    async def publish(
        self, subject: str, body: bytes, *, headers: dict[str, str], timeout_s: float
    ) -> None:
        """Publish and wait for the stream's acknowledgement (or its refusal, or the
        timeout); any number of calls may wait at once."""
        prefix = await self._replies()
        token = str(next(self._tokens))
        acknowledged: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting[token] = acknowledged
        try:
            await self._client.publish(subject, body, reply=prefix + token, headers=headers)
            await asyncio.wait_for(acknowledged, timeout=timeout_s)
        finally:
            self._waiting.pop(token, None)

    async def _replies(self) -> str:
        if self._reply_prefix is None:
            inbox = self._client.new_inbox()
            # Set before the first await: concurrent first publishes share one subscription
            # (and its SUB reaches the server before their PUBs, on the same connection).
            self._reply_prefix = inbox + "."
            await self._client.subscribe(inbox + ".*", cb=self._on_reply)
        return self._reply_prefix

    async def _on_reply(self, message: Msg) -> None:
        assert self._reply_prefix is not None
        waiting = self._waiting.get(message.subject[len(self._reply_prefix) :])
        if waiting is None or waiting.done():
            return  # timed out already: whatever the answer, the publish counts as failed
        if message.headers and message.headers.get(Header.STATUS) == _NO_RESPONDERS:
            waiting.set_exception(NoStreamForSubject(message.subject))
            return
        try:
            reply = orjson.loads(message.data)
        except orjson.JSONDecodeError as error:
            waiting.set_exception(error)
            return
        if isinstance(reply, dict) and "error" in reply:
            waiting.set_exception(PublishRefused(reply["error"]))
        else:
            waiting.set_result(None)
