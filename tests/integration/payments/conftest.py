"""Payments integration fixtures: a Stripe replay server and a merchant's webhook receiver
on 127.0.0.1, one each for the session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest

from tests.support.local_server import serving
from tests.support.merchant_receiver import WebhookReceiver
from tests.support.stripe_replay import StripeReplay


@dataclass(frozen=True)
class RunningReplay:
    replay: StripeReplay
    url: str


@pytest.fixture(scope="session")
async def running_replay() -> AsyncIterator[RunningReplay]:
    replay = StripeReplay()
    async with serving(replay.app) as url:
        yield RunningReplay(replay, url)


@pytest.fixture
def stripe_replay(running_replay: RunningReplay) -> Iterator[RunningReplay]:
    """The session's replay server, with nothing scripted or received."""
    running_replay.replay.reset()
    yield running_replay
    running_replay.replay.reset()


@dataclass(frozen=True)
class RunningReceiver:
    receiver: WebhookReceiver
    port: int


@pytest.fixture(scope="session")
async def running_receiver() -> AsyncIterator[RunningReceiver]:
    receiver = WebhookReceiver()
    async with serving(receiver.app) as url:
        yield RunningReceiver(receiver, int(url.rsplit(":", 1)[1]))
