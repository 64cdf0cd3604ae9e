"""The NATS relay publishes many messages at once, yet never reorders an aggregate: when a
publish fails, that aggregate's later events are not sent until it went through.

The failure is a real one: the stream refuses messages over `max_msg_size`, so one event
of one aggregate is rejected by the broker while everything around it is accepted.
"""

from __future__ import annotations

import orjson
import pytest
from nats.aio.client import Client
from nats.js.api import StreamConfig

from mercato.platform.db.database import Database
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.events.relay import Relay
from mercato.platform.events.transports import NatsTransport, PublishError, nats_stream
from tests.integration.events.conftest import scalar
from tests.support.events import ThingHappened, ThingRenamed

pytestmark = pytest.mark.usefixtures("clean_nats")

MAX_MESSAGE_BYTES = 4_096
STREAM = nats_stream("test")


async def commit_history(database: Database) -> None:
    """Aggregate `a`: happened 0, a rename too large for the stream, happened 1 and 2;
    aggregates `b` and `c`: happened 0 to 3. One unit of work per event, interleaved."""
    for n in range(4):
        for thing in ("a", "b", "c"):
            async with UnitOfWork(database) as uow:
                if thing == "a" and n == 1:
                    uow.publish(
                        ThingRenamed(thing_id="a", new_name="x" * MAX_MESSAGE_BYTES),
                        aggregate_id="a",
                    )
                else:
                    value = n - 1 if thing == "a" and n > 1 else n
                    uow.publish(ThingHappened(thing_id=thing, n=value), aggregate_id=thing)
                await uow.commit()


async def stream_history(nats_client: Client) -> dict[str, list[str]]:
    """What the stream holds, in stream order, per aggregate: event name and `n`."""
    jetstream = nats_client.jetstream()
    info = await jetstream.stream_info(STREAM)
    history: dict[str, list[str]] = {}
    for sequence in range(info.state.first_seq, info.state.last_seq + 1):
        envelope = orjson.loads((await jetstream.get_msg(STREAM, sequence)).data or b"{}")
        payload = envelope["payload"]
        label = f"n={payload['n']}" if "n" in payload else "renamed"
        history.setdefault(envelope["aggregate_id"], []).append(label)
    return history


async def test_a_refused_event_holds_back_its_aggregate_only_and_order_survives(
    live_database: Database, nats_client: Client
) -> None:
    jetstream = nats_client.jetstream()
    await jetstream.add_stream(
        StreamConfig(
            name=STREAM,
            subjects=["mercato.test.>"],
            duplicate_window=120.0,
            max_msg_size=MAX_MESSAGE_BYTES,
        )
    )
    await commit_history(live_database)
    relay = Relay(live_database, NatsTransport(nats_client, domains={"test"}))

    with pytest.raises(PublishError) as refused:
        await relay.publish_pending()
    assert len(refused.value.failed) == 1
    # b and c went through; a only up to the refused rename, whose later events wait.
    assert await stream_history(nats_client) == {
        "a": ["n=0"],
        "b": ["n=0", "n=1", "n=2", "n=3"],
        "c": ["n=0", "n=1", "n=2", "n=3"],
    }
    assert (
        await scalar(
            live_database, "SELECT count(*) FROM platform_outbox WHERE published_at IS NULL"
        )
        == 3
    )
    assert (
        await scalar(
            live_database,
            "SELECT attempts FROM platform_outbox WHERE last_error IS NOT NULL"
            " AND name = 'test.thing.renamed'",
        )
        == 1
    )

    with pytest.raises(PublishError):  # still refused: nothing of `a` moves
        await relay.publish_pending()
    assert (await stream_history(nats_client))["a"] == ["n=0"]

    info = await jetstream.stream_info(STREAM)
    info.config.max_msg_size = -1  # the operator fixes the stream
    await jetstream.update_stream(info.config)
    assert await relay.publish_pending() == 3
    assert (await stream_history(nats_client))["a"] == ["n=0", "renamed", "n=1", "n=2"]
    assert (
        await scalar(
            live_database, "SELECT count(*) FROM platform_outbox WHERE published_at IS NULL"
        )
        == 0
    )


async def test_a_large_batch_is_published_once_and_in_order_per_aggregate(
    live_database: Database, nats_client: Client
) -> None:
    for n in range(20):
        async with UnitOfWork(live_database) as uow:
            for aggregate in range(40):
                uow.publish(
                    ThingHappened(thing_id=f"t{aggregate}", n=n), aggregate_id=f"t{aggregate}"
                )
            await uow.commit()
    relay = Relay(live_database, NatsTransport(nats_client, domains={"test"}))
    published = 0
    while batch := await relay.publish_pending():
        published += batch
    assert published == 800
    history = await stream_history(nats_client)
    assert history == {f"t{a}": [f"n={n}" for n in range(20)] for a in range(40)}
