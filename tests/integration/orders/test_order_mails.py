"""The customer is mailed when an order is paid and when it is canceled: the consumer queues
one job per event (references only in its arguments), the job renders the mail from the
order and the account, and a job run twice shows one mail."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from mercato.orders import mails
from mercato.orders.events import OrderCanceled, OrderPaid
from mercato.platform.db.database import ConnectionBoundDatabase
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.events.consumers import ConsumerGroup
from mercato.platform.events.postgres_consumer import PostgresConsumer
from mercato.platform.events.relay import Relay
from mercato.platform.events.transports import PostgresTransport
from mercato.platform.mail import DevMailbox
from tests.integration.orders.admin_support import Line, insert_order
from tests.support.identity import seed_account


def mail_group() -> ConsumerGroup:
    return next(group for group in mails.registry().groups() if group.name == mails.GROUP)


async def mail_jobs(connection: AsyncConnection) -> list[dict[str, str]]:
    rows = await connection.execute(
        text(
            "SELECT args FROM procrastinate_jobs WHERE task_name = 'orders:send_order_mail'"
            " ORDER BY id"
        )
    )
    return [dict(row[0]) for row in rows]


async def test_paid_and_canceled_orders_queue_one_mail_job_each_with_references_only(
    connection: AsyncConnection, database: ConnectionBoundDatabase
) -> None:
    customer = await seed_account(connection, email="ada@example.com")
    paid = await insert_order(connection, customer_id=customer, lines=[Line(2500)])
    canceled = await insert_order(
        connection, customer_id=customer, lines=[Line(900)], status="canceled"
    )
    await connection.execute(text("DELETE FROM procrastinate_jobs"))
    async with UnitOfWork(database) as uow:
        fields = {"customer_id": customer, "currency": "EUR", "total_minor": 2500}
        uow.publish(OrderPaid(order_id=paid, payment_intent_id=None, **fields), aggregate_id=paid)
        uow.publish(
            OrderCanceled(order_id=canceled, reason="expired", **fields), aggregate_id=canceled
        )
        await uow.commit()
    await Relay(database, PostgresTransport()).publish_pending()  # into the event log
    consumer = PostgresConsumer(database, mail_group())
    assert await consumer.process_batch() >= 2
    await consumer.process_batch()  # nothing new: no second job

    jobs = await mail_jobs(connection)
    assert [(job["order_id"], job["kind"]) for job in jobs] == [
        (str(paid), "paid"),
        (str(canceled), "canceled"),
    ]
    for job in jobs:
        assert set(job) == {"order_id", "kind", "effect_id"}
        uuid.UUID(job["effect_id"])
    stored = json.dumps(jobs)
    for personal in ("@", "ada", "2500"):
        assert personal not in stored


async def test_the_job_renders_the_mail_and_a_second_run_shows_no_second_copy(
    connection: AsyncConnection, database: ConnectionBoundDatabase
) -> None:
    customer = await seed_account(connection, email="ada@example.com")
    order = await insert_order(
        connection, customer_id=customer, lines=[Line(1250, 2)], shipping_minor=490
    )
    mail = await mails.order_mail(database, order_id=order, kind="paid")
    assert mail is not None
    assert mail.to == "ada@example.com"
    assert mail.subject == f"Order {order} is paid"
    assert "2 x Product 0: 25.00 EUR" in mail.text
    assert "Total: 29.90 EUR" in mail.text
    canceled = await mails.order_mail(database, order_id=order, kind="canceled")
    assert canceled is not None
    assert canceled.subject == f"Order {order} is canceled"

    effect = uuid.uuid4()
    mailbox = DevMailbox(database)
    await mailbox.send(mail, effect_id=effect)
    await mailbox.send(mail, effect_id=effect)  # the job again, after a crash
    count = await connection.scalar(
        text("SELECT count(*) FROM platform_dev_mailbox WHERE recipient = 'ada@example.com'")
    )
    assert count == 1


@pytest.mark.parametrize("status", ["disabled", "deleted"])
async def test_no_mail_for_an_account_that_is_gone_or_an_order_that_is_not_there(
    connection: AsyncConnection, database: ConnectionBoundDatabase, status: str
) -> None:
    customer = await seed_account(connection, email="ada@example.com")
    order = await insert_order(connection, customer_id=customer, lines=[Line(100)])
    if status == "deleted":
        await connection.execute(
            text("UPDATE identity_user SET deleted_at = now() WHERE id = :id"), {"id": customer}
        )
    else:
        await connection.execute(
            text("UPDATE identity_user SET status = 'disabled' WHERE id = :id"), {"id": customer}
        )
    assert await mails.order_mail(database, order_id=order, kind="paid") is None
    assert await mails.order_mail(database, order_id=uuid.uuid4(), kind="paid") is None
