"""The AsyncAPI document, the operations routes and the operator tools."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path

import httpx
import jsonschema
import pytest
from sqlalchemy import text

from mercato.app import create_app
from mercato.platform import kernel
from mercato.platform.config import Environment, Settings
from mercato.platform.db.database import ConnectionBoundDatabase, Database
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.events import admin
from mercato.platform.events.asyncapi import asyncapi_document
from mercato.platform.events.postgres_consumer import PostgresConsumer
from mercato.platform.events.relay import Relay
from mercato.platform.events.transports import PostgresTransport
from mercato.platform.mail import DevMailbox, Mail
from mercato.platform.module import Module
from tests.integration.events.conftest import publish_things, scalar
from tests.support.events import ThingHappened, catalog, registry

SCHEMA = Path(__file__).parents[2] / "fixtures" / "asyncapi-3.0.0.schema.json"


@pytest.fixture(scope="module")
def asyncapi_validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))


def test_the_document_is_valid_asyncapi_3(asyncapi_validator: jsonschema.Draft7Validator) -> None:
    document = asyncapi_document(catalog())
    errors = [error.message for error in asyncapi_validator.iter_errors(document)]
    assert errors == []
    channel = document["channels"]["test_thing_happened"]
    assert channel["address"] == "mercato.test.{partition}.thing.happened"
    schema = document["components"]["schemas"]["test_thing_happened_v1"]
    assert set(schema["properties"]) == {"thing_id", "n"}


def test_the_validator_does_reject_a_broken_document(
    asyncapi_validator: jsonschema.Draft7Validator,
) -> None:
    document = asyncapi_document(catalog())
    document["channels"]["test_thing_happened"]["address"] = 42
    assert list(asyncapi_validator.iter_errors(document))


async def test_the_document_is_served(
    settings: Settings, database: ConnectionBoundDatabase
) -> None:
    publisher = Module(name="test", contracts=lambda: list(catalog()))
    app = create_app(settings, database=database, modules=(kernel.module, publisher))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get("/asyncapi.json")
    assert response.status_code == 200
    assert response.json() == asyncapi_document(catalog())


@pytest.mark.parametrize(
    ("env", "status"), [(Environment.DEVELOPMENT, 200), (Environment.TEST, 404)]
)
async def test_the_dev_mailbox_exists_only_in_development(
    settings: Settings, database: ConnectionBoundDatabase, env: Environment, status: int
) -> None:
    await DevMailbox(database).send(
        Mail(to="eve@example.com", subject="Hi", text="Hello"), effect_id=uuid.uuid4()
    )
    app = create_app(settings.model_copy(update={"env": env}), database=database)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get("/dev/mailbox", params={"to": "eve@example.com"})
    assert response.status_code == status
    if status == 200:
        assert [mail["subject"] for mail in response.json()] == ["Hi"]


async def test_backlog_and_queue_gauges_are_exported(
    client: httpx.AsyncClient, database: ConnectionBoundDatabase
) -> None:
    async with UnitOfWork(database) as uow:
        for n in range(3):
            uow.publish(ThingHappened(thing_id="x", n=n), aggregate_id="x")
        await uow.commit()
    text_body = (await client.get("/metrics")).text
    assert "mercato_outbox_backlog 3.0" in text_body
    assert "mercato_outbox_oldest_unpublished_age_seconds" in text_body


async def test_replay_applies_events_again_to_one_group(live_database: Database) -> None:
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    await publish_things(live_database, aggregates=2, per_aggregate=5)
    await Relay(live_database, PostgresTransport()).publish_pending()
    (group,) = registry().groups()
    consumer = PostgresConsumer(live_database, group)
    await consumer.process_batch()
    effects = "SELECT count(*) FROM test_effect"
    assert await scalar(live_database, effects) == 10

    assert await admin.forget_processed_since(live_database, consumer="counter", since=before) == 10
    assert (
        await admin.rewind_postgres_consumer(live_database, consumer="counter", since=before) == 10
    )
    await consumer.process_batch()
    assert await scalar(live_database, effects) == 20


async def test_replay_of_an_unknown_group_is_refused(live_database: Database) -> None:
    with pytest.raises(LookupError, match="no consumer group"):
        await admin.rewind_postgres_consumer(
            live_database, consumer="nobody", since=dt.datetime.now(dt.UTC)
        )


async def test_dead_letters_are_listed(live_database: Database) -> None:
    await publish_things(live_database, aggregates=1, per_aggregate=1, poison=frozenset({(0, 0)}))
    await Relay(live_database, PostgresTransport()).publish_pending()
    (group,) = registry(max_attempts=1).groups()
    await PostgresConsumer(live_database, group).process_batch()
    (letter,) = await admin.list_dead_letters(live_database, consumer="counter")
    assert letter.event_name == "test.thing.happened"
    assert letter.attempts == 1
    async with live_database.session() as session:
        assert await session.scalar(text("SELECT count(*) FROM platform_dead_letter")) == 1
