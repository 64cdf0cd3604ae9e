"""The outbox is written in the use case's transaction: no commit, no event, no job."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from mercato.platform.db.database import Database
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.jobs.tasks import send_mail_job
from mercato.platform.mail import Mail
from tests.integration.events.conftest import scalar
from tests.support.events import ThingHappened


async def test_a_committed_use_case_writes_its_events(live_database: Database) -> None:
    async with UnitOfWork(live_database) as uow:
        envelope = uow.publish(ThingHappened(thing_id="a", n=1), aggregate_id="a")
        await uow.commit()
    async with live_database.session() as session:
        row = (
            await session.execute(
                text("SELECT name, version, aggregate_id, envelope FROM platform_outbox")
            )
        ).one()
    assert (row.name, row.version, row.aggregate_id) == ("test.thing.happened", 1, "a")
    assert row.envelope["id"] == str(envelope.id)
    assert row.envelope["payload"] == {"thing_id": "a", "n": 1}
    assert envelope.id.version == 7


async def test_a_rolled_back_use_case_publishes_nothing_and_defers_nothing(
    live_database: Database,
) -> None:
    async def failing_use_case() -> None:
        async with UnitOfWork(live_database) as uow:
            uow.publish(ThingHappened(thing_id="a", n=1), aggregate_id="a")
            uow.defer(send_mail_job(Mail(to="a@example.com", subject="hi", text="hello")))
            await uow.session.execute(text("SELECT 1"))
            raise RuntimeError("the use case failed after publishing")

    with pytest.raises(RuntimeError):
        await failing_use_case()
    assert await scalar(live_database, "SELECT count(*) FROM platform_outbox") == 0
    assert await scalar(live_database, "SELECT count(*) FROM procrastinate_jobs") == 0


async def test_a_committed_deferral_enqueues_the_job(live_database: Database) -> None:
    async with UnitOfWork(live_database) as uow:
        uow.defer(send_mail_job(Mail(to="a@example.com", subject="hi", text="hello")))
        await uow.commit()
    async with live_database.session() as session:
        job = (
            await session.execute(
                text("SELECT queue_name, task_name, status::text, args FROM procrastinate_jobs")
            )
        ).one()
    assert (job.queue_name, job.task_name, job.status) == ("mail", "platform:send_mail", "todo")
    assert job.args["to"] == "a@example.com"


async def test_correlation_and_causation_are_carried_from_the_context(
    live_database: Database,
) -> None:
    import structlog

    with structlog.contextvars.bound_contextvars(correlation_id="req-42", causation_id="evt-1"):
        async with UnitOfWork(live_database) as uow:
            envelope = uow.publish(ThingHappened(thing_id="a", n=1), aggregate_id="a")
            await uow.commit()
    assert (envelope.correlation_id, envelope.causation_id) == ("req-42", "evt-1")


async def test_a_failed_savepoint_undoes_its_own_writes_and_events_only(
    live_database: Database,
) -> None:
    async def failing_step(uow: UnitOfWork) -> None:
        async with uow.savepoint():
            uow.publish(ThingHappened(thing_id="undone", n=2), aggregate_id="undone")
            uow.defer(send_mail_job(Mail(to="x@example.com", subject="s", text="t")))
            raise LookupError("this step fails alone")

    async with UnitOfWork(live_database) as uow:
        uow.publish(ThingHappened(thing_id="kept", n=1), aggregate_id="kept")
        with pytest.raises(LookupError):
            await failing_step(uow)
        await uow.commit()
    assert await scalar(live_database, "SELECT count(*) FROM platform_outbox") == 1
    assert await scalar(live_database, "SELECT count(*) FROM procrastinate_jobs") == 0
