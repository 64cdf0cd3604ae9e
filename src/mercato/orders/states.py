"""The order's state machine: which status may follow which, and nothing else.

Pure (no I/O): the transition table is the single source of truth, unit-tested without a
database; every use case that changes an order's status goes through `transition`, and
also applies it in SQL as a compare-and-set on the status it read under the row lock.

```
pending_payment ──pay──▶ paid ──fulfil──▶ fulfilled
      │                   │                  │
      └─cancel/expire─▶ canceled     refund (part) ──▶ partially_refunded ──▶ refunded
                          paid/fulfilled ──refund (all)──────────────────────▶ refunded
```
"""

from __future__ import annotations

from enum import StrEnum

from mercato.orders.errors import IllegalTransition


class OrderStatus(StrEnum):
    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    FULFILLED = "fulfilled"
    CANCELED = "canceled"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


S = OrderStatus
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.PENDING_PAYMENT: frozenset({S.PAID, S.CANCELED}),
    S.PAID: frozenset({S.FULFILLED, S.PARTIALLY_REFUNDED, S.REFUNDED}),
    S.FULFILLED: frozenset({S.PARTIALLY_REFUNDED, S.REFUNDED}),
    # A second partial refund keeps it partially refunded; the last one makes it refunded.
    S.PARTIALLY_REFUNDED: frozenset({S.PARTIALLY_REFUNDED, S.REFUNDED}),
    S.CANCELED: frozenset(),
    S.REFUNDED: frozenset(),
}
TERMINAL = frozenset(status for status, nexts in TRANSITIONS.items() if not nexts)
# Money was taken: the statuses a refund may start from.
REFUNDABLE = frozenset({S.PAID, S.FULFILLED, S.PARTIALLY_REFUNDED})


def can_transition(current: OrderStatus, target: OrderStatus) -> bool:
    return target in TRANSITIONS[current]


def transition(current: OrderStatus | str, target: OrderStatus) -> OrderStatus:
    """`target` if the table allows it from `current`; `IllegalTransition` (409) if not."""
    status = OrderStatus(current)
    if not can_transition(status, target):
        raise IllegalTransition(f"An order that is {status.value} cannot become {target.value}.")
    return target


def after_refund(
    current: OrderStatus | str, *, refunded_minor: int, total_minor: int
) -> OrderStatus:
    """The status once `refunded_minor` (the running total) of `total_minor` is refunded."""
    if not 0 < refunded_minor <= total_minor:
        raise ValueError("refunded amount out of range")
    target = S.REFUNDED if refunded_minor == total_minor else S.PARTIALLY_REFUNDED
    return transition(current, target)


def predecessors(target: OrderStatus) -> frozenset[OrderStatus]:
    """The statuses `target` may follow (for `UPDATE … WHERE status IN (…)`)."""
    return frozenset(status for status, nexts in TRANSITIONS.items() if target in nexts)
