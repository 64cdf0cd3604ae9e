"""The mails a customer gets about an order (plain text): paid, and canceled."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from mercato.platform.mail import Mail
from mercato.platform.money import CURRENCY_EXPONENTS


@dataclass(frozen=True, slots=True)
class MailedLine:
    description: str
    quantity: int
    amount_minor: int


@dataclass(frozen=True, slots=True)
class MailedOrder:
    """What the mails say about an order (read by the job, never carried in its arguments)."""

    order_id: uuid.UUID
    currency: str
    total_minor: int
    lines: Sequence[MailedLine]


def format_amount(amount_minor: int, currency: str) -> str:
    """`2500, "EUR"` → `25.00 EUR`; by the currency's exponent (`JPY` has none)."""
    exponent = CURRENCY_EXPONENTS.get(currency, 2)
    sign = "-" if amount_minor < 0 else ""
    whole, fraction = divmod(abs(amount_minor), 10**exponent)
    if exponent == 0:
        return f"{sign}{whole:,} {currency}"
    return f"{sign}{whole:,}.{fraction:0{exponent}d} {currency}"


def _summary(order: MailedOrder) -> str:
    lines = [
        f"  {line.quantity} x {line.description}: "
        + format_amount(line.amount_minor, order.currency)
        for line in order.lines
    ]
    total = format_amount(order.total_minor, order.currency)
    return "\n".join([*lines, f"  Total: {total}"])


def order_paid_mail(*, to: str, order: MailedOrder) -> Mail:
    return Mail(
        to=to,
        subject=f"Order {order.order_id} is paid",
        text=(
            "Thank you: we received your payment.\n\n"
            f"Order {order.order_id}:\n{_summary(order)}\n\n"
            "We will let you know when it ships.\n"
        ),
    )


def order_canceled_mail(*, to: str, order: MailedOrder) -> Mail:
    return Mail(
        to=to,
        subject=f"Order {order.order_id} is canceled",
        text=(
            f"Your order {order.order_id} was canceled; nothing was charged for it, or what"
            " was charged is refunded.\n\n"
            f"{_summary(order)}\n"
        ),
    )
