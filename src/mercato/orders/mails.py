"""The customer is mailed when their order is paid and when it is canceled.

A consumer group (`orders-mails`) turns `orders.order.paid` and `orders.order.canceled` into
a mail job, in the inbox's transaction (an event redelivered queues nothing more). The
job's arguments are references only, the order's id and which mail, plus its effect id:
job rows are stored and logged, so no address, name or amount is put there. The job reads
the order and asks identity for the customer's address when it runs (an account deleted
or disabled meanwhile gets no mail), renders the mail and sends it under the effect id,
so a job run twice shows its reader one mail.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Final, Literal

import structlog

from mercato.identity import contact_email
from mercato.orders.events import OrderCanceled, OrderPaid
from mercato.orders.mail_templates import (
    MailedLine,
    MailedOrder,
    order_canceled_mail,
    order_paid_mail,
)
from mercato.orders.repository import OrdersReads
from mercato.platform.db.database import Database
from mercato.platform.events.consumers import ConsumerRegistry, HandlerContext
from mercato.platform.jobs.effects import new_effect_id
from mercato.platform.jobs.queue import JobRequest
from mercato.platform.jobs.runtime import dependencies_of
from mercato.platform.jobs.tasks import MAIL_QUEUE
from mercato.platform.mail import Mail

# The job queue's library is imported where tasks are registered or run (workers):
# an API process only writes job rows (`jobs/queue.py`).
if TYPE_CHECKING:
    import procrastinate


logger = structlog.get_logger(__name__)

GROUP: Final = "orders-mails"
TASK: Final = "send_order_mail"
MailKind = Literal["paid", "canceled"]


def order_mail_job(order_id: uuid.UUID, kind: MailKind) -> JobRequest:
    """The job for `uow.defer(...)`: arguments are the order's id and the kind of mail."""
    return JobRequest(
        task_name=f"orders:{TASK}",
        queue=MAIL_QUEUE,
        args={"order_id": str(order_id), "kind": kind},
        effect_id=new_effect_id(),
    )


def registry() -> ConsumerRegistry:
    consumers = ConsumerRegistry()

    @consumers.consumer(OrderPaid, group=GROUP)
    async def paid(event: OrderPaid, context: HandlerContext) -> None:
        context.uow.defer(order_mail_job(event.order_id, "paid"))

    @consumers.consumer(OrderCanceled, group=GROUP)
    async def canceled(event: OrderCanceled, context: HandlerContext) -> None:
        context.uow.defer(order_mail_job(event.order_id, "canceled"))

    return consumers


async def order_mail(database: Database, *, order_id: uuid.UUID, kind: MailKind) -> Mail | None:
    """The mail of this job (None: the order or the customer's account is gone)."""
    async with database.read_session() as session:
        reads = OrdersReads(session)
        order = await reads.order(order_id)
        if order is None:
            return None
        to = await contact_email(session, order.customer_id)
        if to is None:
            return None
        lines = await reads.order_lines(order_id)
    mailed = MailedOrder(
        order_id=order.id,
        currency=order.currency,
        total_minor=order.total_minor,
        lines=[
            MailedLine(
                description=f"{line.product_name} {line.title}".strip(),
                quantity=line.quantity,
                amount_minor=line.line_total_minor,
            )
            for line in lines
        ],
    )
    if kind == "paid":
        return order_paid_mail(to=to, order=mailed)
    return order_canceled_mail(to=to, order=mailed)


async def send_order_mail(
    context: procrastinate.JobContext, *, order_id: str, kind: MailKind, effect_id: str
) -> None:
    dependencies = dependencies_of(context)
    mail = await order_mail(dependencies.database, order_id=uuid.UUID(order_id), kind=kind)
    if mail is None:
        logger.info("order_mail_not_needed", kind=kind, order_id=order_id)
        return
    await dependencies.mailer.send(mail, effect_id=uuid.UUID(effect_id))
    logger.info("mail_sent", kind=kind, order_id=order_id, effect_id=effect_id)


def add_tasks(tasks: procrastinate.Blueprint) -> None:
    """Put the mail task into the orders blueprint (retried like platform:send_mail: it
    rides out an SMTP restart, gives up after ~8.5 minutes)."""
    import procrastinate

    tasks.task(
        name=TASK,
        queue=MAIL_QUEUE,
        pass_context=True,
        retry=procrastinate.RetryStrategy(max_attempts=8, exponential_wait=2),
    )(send_order_mail)
