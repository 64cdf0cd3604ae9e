"""Operations data is for operators: `/metrics` needs the operator token or this very host,
the development mailbox (every reset link) is served on a loopback bind or by opt-in only,
and a scrape costs the database its gauge queries at most every few seconds."""

from __future__ import annotations

import uuid

import pytest
from pydantic import SecretStr, ValidationError

from mercato.platform.config import Environment, Settings
from mercato.platform.db.database import ConnectionBoundDatabase
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.mail import DevMailbox, Mail
from tests.support.apps import app_client
from tests.support.events import ThingHappened

TOKEN = "an operator token of forty characters!!"
FORWARDED = {"X-Forwarded-For": "203.0.113.9"}
MAILBOX = "operations-access@example.com"


async def test_metrics_answer_only_this_host_without_a_token(
    settings: Settings, database: ConnectionBoundDatabase
) -> None:
    async with app_client(settings, database, ip="127.0.0.1") as local:
        assert (await local.get("/metrics")).status_code == 200
        # Through a reverse proxy on this host: someone else's request.
        proxied = await local.get("/metrics", headers=FORWARDED)
        assert proxied.status_code == 404
    async with app_client(settings, database, ip="198.51.100.4") as remote:
        refused = await remote.get("/metrics")
        assert refused.status_code == 404
        assert refused.headers["content-type"] == "application/problem+json"
        assert "mercato_" not in refused.text


async def test_metrics_with_a_token_need_the_token_from_anywhere(
    settings: Settings, database: ConnectionBoundDatabase
) -> None:
    guarded = settings.model_copy(update={"metrics_token": SecretStr(TOKEN)})
    async with app_client(guarded, database, ip="198.51.100.4") as remote:
        assert (await remote.get("/metrics")).status_code == 401
        wrong = await remote.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}x"})
        assert wrong.status_code == 401
        assert wrong.headers["www-authenticate"].startswith("Bearer")
        scraped = await remote.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert scraped.status_code == 200
        assert "mercato_http_requests_total" in scraped.text
    async with app_client(guarded, database, ip="127.0.0.1") as local:
        assert (await local.get("/metrics")).status_code == 401  # the token, even locally


def test_a_short_metrics_token_is_refused() -> None:
    with pytest.raises(ValidationError):
        Settings(metrics_token=SecretStr("short"))


async def backlog_growth(settings: Settings, database: ConnectionBoundDatabase) -> float:
    """How much the backlog gauge grew between two scrapes of one application, with three
    events published between them."""
    scraped = []
    async with app_client(settings, database) as client:
        for round_ in range(2):
            if round_:
                async with UnitOfWork(database) as uow:
                    for n in range(3):
                        uow.publish(ThingHappened(thing_id="x", n=n), aggregate_id="x")
                    await uow.commit()
            text = (await client.get("/metrics")).text
            (line,) = (row for row in text.splitlines() if row.startswith("mercato_outbox_backlog"))
            scraped.append(float(line.split(" ")[1]))
    return scraped[1] - scraped[0]


async def test_database_gauges_are_read_at_most_once_per_refresh_interval(
    settings: Settings, database: ConnectionBoundDatabase
) -> None:
    hourly = settings.model_copy(update={"metrics_db_refresh_s": 3600})
    assert await backlog_growth(hourly, database) == 0  # the second scrape read no database
    always = settings.model_copy(update={"metrics_db_refresh_s": 0})
    assert await backlog_growth(always, database) == 3


def development(settings: Settings, **overrides: object) -> Settings:
    return settings.model_copy(update={"env": Environment.DEVELOPMENT, **overrides})


async def test_the_mailbox_is_served_on_a_loopback_bind_to_this_host_only(
    settings: Settings, database: ConnectionBoundDatabase
) -> None:
    await DevMailbox(database).send(
        Mail(to=MAILBOX, subject="Reset", text="link"), effect_id=uuid.uuid4()
    )
    loopback = development(settings, host="127.0.0.1")
    async with app_client(loopback, database, ip="127.0.0.1") as local:
        assert (await local.get("/dev/mailbox")).status_code == 200
        assert (await local.get("/dev/mailbox", headers=FORWARDED)).status_code == 404
    async with app_client(loopback, database, ip="198.51.100.4") as remote:
        assert (await remote.get("/dev/mailbox")).status_code == 404


async def test_the_mailbox_is_not_mounted_on_a_public_bind_unless_asked_for(
    settings: Settings, database: ConnectionBoundDatabase
) -> None:
    await DevMailbox(database).send(
        Mail(to=MAILBOX, subject="Reset", text="link"), effect_id=uuid.uuid4()
    )
    public = development(settings, host="0.0.0.0")
    async with app_client(public, database, ip="127.0.0.1") as local:
        assert (await local.get("/dev/mailbox")).status_code == 404
    opted_in = development(settings, host="0.0.0.0", dev_routes=True)
    async with app_client(opted_in, database, ip="198.51.100.4") as remote:
        answer = await remote.get("/dev/mailbox", params={"to": MAILBOX})
        assert answer.status_code == 200
        assert [mail["subject"] for mail in answer.json()] == ["Reset"]


def test_the_development_routes_are_refused_in_production() -> None:
    with pytest.raises(ValidationError, match="never served in production"):
        Settings(
            env=Environment.PRODUCTION,
            secret_key=SecretStr("k" * 48),
            dev_routes=True,
            database={"url": "postgresql://app@db/shop"},
        )
