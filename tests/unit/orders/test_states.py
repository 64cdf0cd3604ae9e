"""The order state machine, without a database: the table is the whole truth."""

from __future__ import annotations

import itertools

import pytest

from mercato.orders.errors import IllegalTransition
from mercato.orders.states import (
    REFUNDABLE,
    TERMINAL,
    TRANSITIONS,
    OrderStatus,
    after_refund,
    can_transition,
    predecessors,
    transition,
)
from mercato.platform.errors import Conflict

S = OrderStatus
ALLOWED = {
    (S.PENDING_PAYMENT, S.PAID),
    (S.PENDING_PAYMENT, S.CANCELED),
    (S.PAID, S.FULFILLED),
    (S.PAID, S.PARTIALLY_REFUNDED),
    (S.PAID, S.REFUNDED),
    (S.FULFILLED, S.PARTIALLY_REFUNDED),
    (S.FULFILLED, S.REFUNDED),
    (S.PARTIALLY_REFUNDED, S.PARTIALLY_REFUNDED),
    (S.PARTIALLY_REFUNDED, S.REFUNDED),
}


@pytest.mark.parametrize(("current", "target"), list(itertools.product(S, S)))
def test_exactly_the_listed_transitions_are_allowed(current: S, target: S) -> None:
    allowed = (current, target) in ALLOWED
    assert can_transition(current, target) is allowed
    if allowed:
        assert transition(current, target) is target
    else:
        with pytest.raises(IllegalTransition):
            transition(current, target)


def test_an_illegal_transition_is_a_conflict_answered_409() -> None:
    with pytest.raises(Conflict) as raised:
        transition("canceled", S.PAID)
    assert raised.value.code == "illegal-order-transition"
    assert "canceled" in raised.value.detail


def test_canceled_and_refunded_are_terminal_and_every_status_is_in_the_table() -> None:
    assert set(TRANSITIONS) == set(S)
    assert {S.CANCELED, S.REFUNDED} == TERMINAL


def test_an_unpaid_order_cannot_be_fulfilled_or_refunded() -> None:
    for target in (S.FULFILLED, S.REFUNDED, S.PARTIALLY_REFUNDED):
        with pytest.raises(IllegalTransition):
            transition(S.PENDING_PAYMENT, target)
    assert S.PENDING_PAYMENT not in REFUNDABLE


def test_a_paid_order_cannot_be_canceled_only_refunded() -> None:
    with pytest.raises(IllegalTransition):
        transition(S.PAID, S.CANCELED)


@pytest.mark.parametrize(
    ("current", "refunded", "expected"),
    [
        (S.PAID, 1, S.PARTIALLY_REFUNDED),
        (S.PAID, 1000, S.REFUNDED),
        (S.FULFILLED, 999, S.PARTIALLY_REFUNDED),
        (S.PARTIALLY_REFUNDED, 500, S.PARTIALLY_REFUNDED),
        (S.PARTIALLY_REFUNDED, 1000, S.REFUNDED),
    ],
)
def test_a_refund_makes_the_order_partially_or_wholly_refunded(
    current: S, refunded: int, expected: S
) -> None:
    assert after_refund(current, refunded_minor=refunded, total_minor=1000) is expected


@pytest.mark.parametrize("refunded", [0, -1, 1001])
def test_a_refund_total_outside_the_order_total_is_refused(refunded: int) -> None:
    with pytest.raises(ValueError, match="out of range"):
        after_refund(S.PAID, refunded_minor=refunded, total_minor=1000)


def test_a_refund_of_a_canceled_order_is_illegal() -> None:
    with pytest.raises(IllegalTransition):
        after_refund(S.CANCELED, refunded_minor=10, total_minor=1000)


def test_predecessors_are_the_table_read_backwards() -> None:
    assert predecessors(S.PAID) == {S.PENDING_PAYMENT}
    assert predecessors(S.REFUNDED) == {S.PAID, S.FULFILLED, S.PARTIALLY_REFUNDED}
    assert predecessors(S.PENDING_PAYMENT) == frozenset()
