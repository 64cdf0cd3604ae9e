"""The intent lifecycle's transition table (Stripe's), without a database: terminal states
never move, a failed attempt sends the intent back to requires_payment_method, and the
compare-and-set predecessors are exactly the table's."""

from __future__ import annotations

import itertools

from mercato.payments.states import (
    ACTIVE_ATTEMPTS,
    CANCELABLE,
    CONFIRMABLE,
    TERMINAL,
    TRANSITIONS,
    AttemptStatus,
    IntentStatus,
    RefundStatus,
    may_move,
    predecessors,
)

S = IntentStatus


def test_terminal_states_never_change() -> None:
    assert {S.SUCCEEDED, S.CANCELED} == TERMINAL
    for terminal, target in itertools.product(TERMINAL, S):
        assert not may_move(terminal, target)
    assert all(status.is_terminal == (status in TERMINAL) for status in S)


def reachable(start: IntentStatus) -> set[IntentStatus]:
    found, frontier = {start}, [start]
    while frontier:
        for target in TRANSITIONS[frontier.pop()]:
            if target not in found:
                found.add(target)
                frontier.append(target)
    return found


def test_every_state_is_reachable_and_every_live_state_can_end() -> None:
    assert reachable(S.REQUIRES_PAYMENT_METHOD) == set(S)
    for status in set(S) - TERMINAL:
        assert reachable(status) & TERMINAL == TERMINAL, status  # paid or canceled, always


def test_a_failed_attempt_returns_to_requires_payment_method() -> None:
    assert may_move(S.PROCESSING, S.REQUIRES_PAYMENT_METHOD)
    assert may_move(S.REQUIRES_ACTION, S.REQUIRES_PAYMENT_METHOD)
    assert not may_move(
        S.REQUIRES_CAPTURE, S.REQUIRES_PAYMENT_METHOD
    )  # authorised: capture or cancel


def test_staying_put_is_not_a_move() -> None:
    assert not any(may_move(status, status) for status in S)


def test_predecessors_are_the_compare_and_sets_where_clause() -> None:
    assert predecessors(S.SUCCEEDED) == {S.PROCESSING, S.REQUIRES_ACTION, S.REQUIRES_CAPTURE}
    assert predecessors(S.REQUIRES_PAYMENT_METHOD) == {S.PROCESSING, S.REQUIRES_ACTION}
    assert S.SUCCEEDED not in CANCELABLE  # money moved: refund it instead
    assert S.CANCELED not in CANCELABLE
    assert {S.REQUIRES_PAYMENT_METHOD, S.REQUIRES_CONFIRMATION} == CONFIRMABLE
    for target in S:
        for status in predecessors(target):
            assert may_move(status, target)


def test_unknown_attempts_count_as_active_and_failed_refunds_release_their_amount() -> None:
    assert AttemptStatus.UNKNOWN in ACTIVE_ATTEMPTS  # no new attempt before reconciling it
    assert not AttemptStatus.FAILED.is_active
    assert RefundStatus.PENDING.holds_amount
    assert RefundStatus.UNKNOWN.holds_amount
    assert not RefundStatus.FAILED.holds_amount
