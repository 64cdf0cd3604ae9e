"""Consumers on NATS JetStream: one durable pull consumer per (group, domain stream).

`max_ack_pending=1` keeps a group's events in stream order across all its instances (the
next message is delivered only after the previous one is acknowledged), which is what keeps
order per aggregate. Effects are deduplicated by the inbox, so a message redelivered after a
crash (effect committed, ack lost) has no second effect. A failing message is redelivered
with backoff (`nak(delay)`) and, after `max_attempts` deliveries, dead-lettered: stored in
`platform_dead_letter`, published on `mercato-dead-letter.<group>`, and acknowledged.

The partitions' head messages are applied together: whatever heads are waiting go in one
transaction (one inbox statement, batch handlers once per run), acknowledged after the
commit; if anything in it fails, it is rolled back and each message handled alone as
above. One message per partition, so no two in a transaction share an aggregate, and order
and redelivery work exactly as with one message at a time. (A deeper batch per partition
would need `max_ack_pending` above 1, which lets a second instance take later messages
while an earlier one waits for redelivery: order per aggregate would no longer hold.)
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
import uuid
from collections.abc import Sequence
from typing import Any

import orjson
import structlog
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from mercato.platform.db.database import Database
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.events.consumers import (
    ConsumerGroup,
    apply_batch_in,
    apply_once,
    dead_letter,
    describe,
)
from mercato.platform.events.contracts import Envelope
from mercato.platform.events.transports import (
    NATS_DEAD_LETTER_PREFIX,
    ensure_named_stream,
    ensure_stream,
    nats_stream,
    partition_filter,
)

logger = structlog.get_logger(__name__)

DEAD_LETTER_STREAM = "MERCATO_DEAD_LETTERS"
ACK_WAIT_S = 30.0
# Partitions' head messages waiting to be applied together, each with what its partition's
# fetch loop awaits before fetching the next.
Heads = asyncio.Queue[tuple[Any, asyncio.Future[None]]]


def durable_name(group: str, domain: str, partition: int) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", f"{group}--{domain}--{partition}")


def consumer_config(
    group: str, domain: str, partition: int, *, start_at: dt.datetime | None = None
) -> ConsumerConfig:
    """A durable, explicitly acknowledged consumer of one partition that lets one message
    out at a time (so the partition, hence each aggregate, is processed in order)."""
    return ConsumerConfig(
        durable_name=durable_name(group, domain, partition),
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL if start_at is None else DeliverPolicy.BY_START_TIME,
        opt_start_time=start_at,
        filter_subject=partition_filter(domain, partition),
        max_ack_pending=1,
        ack_wait=ACK_WAIT_S,
        max_deliver=-1,  # attempts are counted here, and dead-lettered here
    )


async def ensure_dead_letter_stream(jetstream: Any) -> None:
    await ensure_named_stream(jetstream, DEAD_LETTER_STREAM, [f"{NATS_DEAD_LETTER_PREFIX}.>"])


class NatsConsumer:
    def __init__(
        self,
        database: Database,
        group: ConsumerGroup,
        jetstream: Any,
        *,
        partitions: int = 8,
        fetch_timeout_s: float = 1.0,
        whole_batches: bool = True,
    ) -> None:
        """`whole_batches=False` applies every message in a transaction of its own, as
        before batching (the benchmark's same-run baseline)."""
        self._database = database
        self._whole_batches = whole_batches
        self._group = group
        self._js = jetstream
        self._partitions = partitions
        self._fetch_timeout_s = fetch_timeout_s

    @property
    def group(self) -> ConsumerGroup:
        return self._group

    async def subscribe(self, domain: str, partition: int) -> Any:
        await ensure_stream(self._js, domain)
        await ensure_dead_letter_stream(self._js)
        config = consumer_config(self._group.name, domain, partition)
        return await self._js.pull_subscribe(
            partition_filter(domain, partition),
            durable=config.durable_name,
            stream=nats_stream(domain),
            config=config,
        )

    async def run(self, stop: asyncio.Event) -> None:
        subscriptions = [
            await self.subscribe(domain, partition)
            for domain in sorted(self._group.domains())
            for partition in range(self._partitions)
        ]
        heads: Heads = asyncio.Queue()
        drained = asyncio.Event()

        async def drain_all() -> None:
            try:
                await asyncio.gather(
                    *(self._drain(subscription, heads, stop) for subscription in subscriptions)
                )
            finally:
                drained.set()

        try:
            if self._whole_batches:
                await asyncio.gather(drain_all(), self._apply_heads(heads, drained))
            else:
                await drain_all()
        finally:
            # Without this, the connection's drain at shutdown waits out its 30 s timeout
            # for the pull inboxes (the durable consumers stay; only our inboxes go).
            for subscription in subscriptions:
                with contextlib.suppress(Exception):
                    await subscription.unsubscribe()

    async def _drain(self, subscription: Any, heads: Heads, stop: asyncio.Event) -> None:
        """Fetch the partition's next message and hand it on; fetch again once it is
        settled (acknowledged or not: the broker lets one out at a time anyway)."""
        while not stop.is_set():
            try:
                messages = await subscription.fetch(1, timeout=self._fetch_timeout_s)
            except (NatsTimeoutError, TimeoutError):
                continue
            except Exception as error:  # noqa: BLE001 - e.g. the connection is re-establishing
                logger.warning("nats_fetch_failed", consumer=self._group.name, error=str(error))
                await asyncio.sleep(self._fetch_timeout_s)
                continue
            for message in messages:
                if not self._whole_batches:
                    await self.handle(message)
                    continue
                settled = asyncio.get_running_loop().create_future()
                await heads.put((message, settled))
                await settled

    async def _apply_heads(self, heads: Heads, drained: asyncio.Event) -> None:
        """Apply whatever partitions' heads are waiting, together; until every fetch loop
        has stopped (each waits for its last head to be settled first)."""
        while not (drained.is_set() and heads.empty()):
            try:
                first = await asyncio.wait_for(heads.get(), timeout=self._fetch_timeout_s)
            except TimeoutError:
                continue
            batch = [first]
            while not heads.empty():
                batch.append(heads.get_nowait())
            try:
                await self.handle_batch([message for message, _ in batch])
            finally:
                for _, settled in batch:
                    settled.set_result(None)

    async def handle_batch(self, messages: Sequence[Any]) -> None:
        """Apply the messages in one transaction (one inbox statement), then acknowledge
        them; if any of it fails, roll back and handle them one by one (retried with
        backoff or dead-lettered, as ever). They come from different partitions, so no
        order holds between them."""
        try:
            envelopes = [Envelope.model_validate_json(message.data) for message in messages]
            async with UnitOfWork(self._database) as uow:
                await apply_batch_in(uow, self._group, envelopes)
                await uow.commit()
        except Exception as error:  # noqa: BLE001 - found again, message by message
            logger.info(
                "consumer_batch_split",
                consumer=self._group.name,
                events=len(messages),
                error=describe(error),
            )
            for message in messages:
                await self.handle(message)
            return
        await self.acknowledge(messages)

    async def acknowledge(self, messages: Sequence[Any]) -> None:
        """After the commit: a crash before this redelivers them, and the inbox makes the
        second delivery a no-op."""
        for message in messages:
            await message.ack()

    async def handle(self, message: Any) -> None:
        attempts = int(message.metadata.num_delivered)
        try:
            envelope = Envelope.model_validate_json(message.data)
            if self._group.wants(envelope):
                await apply_once(self._group, envelope, self._database)
        except Exception as error:  # noqa: BLE001 - a handler's failure is data here
            reason = describe(error)
            logger.warning(
                "event_handler_failed", consumer=self._group.name, attempt=attempts, error=reason
            )
            if attempts < self._group.retry.max_attempts:
                await message.nak(delay=self._group.retry.delay(attempts))
                return
            await self._dead_letter(message, attempts=attempts, error=reason)
        await message.ack()

    async def _dead_letter(self, message: Any, *, attempts: int, error: str) -> None:
        raw = _loads(message.data)
        event_id = _event_id(raw, message)
        await dead_letter(
            self._database,
            consumer=self._group.name,
            event_id=event_id,
            envelope=raw,
            attempts=attempts,
            error=error,
        )
        await self._js.publish(
            f"{NATS_DEAD_LETTER_PREFIX}.{self._group.name}",
            message.data,
            headers={"Nats-Msg-Id": f"{self._group.name}:{event_id}", "Mercato-Error": error[:500]},
        )


def _loads(data: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return {"unparseable": data.decode("utf-8", "replace")}
    return value if isinstance(value, dict) else {"value": value}


def _event_id(raw: dict[str, Any], message: Any) -> uuid.UUID:
    header = (message.headers or {}).get("Nats-Msg-Id") or raw.get("id")
    try:
        return uuid.UUID(str(header))
    except ValueError:
        return uuid.uuid5(uuid.NAMESPACE_URL, f"nats-seq:{message.metadata.sequence.stream}")
