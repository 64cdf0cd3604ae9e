"""Event contracts, the catalog and time-ordered ids."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError

from mercato.platform.events.consumers import ConsumerRegistry, HandlerContext, RetryPolicy
from mercato.platform.events.contracts import Envelope, EventCatalog, EventPayload, UnknownEvent
from mercato.platform.events.transports import nats_subject, partition_of
from mercato.platform.ids import uuid7
from tests.support.events import ThingHappened


def test_uuid7_is_version_7_and_time_ordered() -> None:
    ids = [uuid7() for _ in range(1_000)]
    assert all(value.version == 7 and value.variant == uuid.RFC_4122 for value in ids)
    assert len(set(ids)) == 1_000
    milliseconds = [value.int >> 80 for value in ids]
    assert milliseconds == sorted(milliseconds)


def test_event_names_must_be_context_aggregate_happened() -> None:
    with pytest.raises(TypeError, match="must look like"):

        class Bad(EventPayload):
            name = "Happened"
            version = 1
            aggregate_type = "x"


def test_the_catalog_parses_by_name_and_version() -> None:
    catalog = EventCatalog([ThingHappened])
    envelope = Envelope.wrap(ThingHappened(thing_id="t", n=3), aggregate_id="t")
    assert catalog.parse(envelope) == ThingHappened(thing_id="t", n=3)
    with pytest.raises(UnknownEvent):
        catalog.parse(envelope.model_copy(update={"version": 2}))


def test_a_contract_key_cannot_be_registered_twice() -> None:
    class Again(EventPayload):
        name = "test.thing.happened"
        version = 1
        aggregate_type = "test.thing"

    with pytest.raises(ValueError, match="already registered"):
        EventCatalog([ThingHappened, Again])


def test_payloads_are_strict() -> None:
    with pytest.raises(ValidationError):
        ThingHappened(thing_id="t", n=1, extra="no")  # type: ignore[call-arg]


def test_a_group_handles_a_contract_once() -> None:
    registry = ConsumerRegistry()

    async def handler(event: ThingHappened, context: HandlerContext) -> None:
        return None

    registry.consumer(ThingHappened, group="g")(handler)
    with pytest.raises(ValueError, match="already handles"):
        registry.consumer(ThingHappened, group="g")(handler)


def test_retry_delays_follow_the_policy_and_stay_at_the_last_step() -> None:
    policy = RetryPolicy(max_attempts=6, backoff_s=(0.5, 2.0, 10.0))
    assert [policy.delay(attempt) for attempt in range(1, 6)] == [0.5, 2.0, 10.0, 10.0, 10.0]


def test_an_aggregate_always_maps_to_the_same_partition() -> None:
    lanes = {partition_of("catalog.product", str(i), 8) for i in range(1_000)}
    assert lanes == set(range(8))
    assert partition_of("catalog.product", "42", 8) == partition_of("catalog.product", "42", 8)
    assert nats_subject("catalog.product.updated", 3) == "mercato.catalog.3.product.updated"
