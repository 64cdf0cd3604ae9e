"""The test card table and a processor's card checks."""

from __future__ import annotations

import datetime as dt

import pytest

from mercato.sandbox.cards import (
    BY_SHORTCUT,
    TEST_CARDS,
    CardBehaviour,
    SandboxCard,
    brand_of,
    luhn_valid,
    recognise_card,
)
from mercato.sandbox.errors import SandboxError

TODAY = dt.date(2026, 6, 15)


@pytest.mark.parametrize("card", TEST_CARDS, ids=lambda card: card.shortcut)
def test_every_test_card_passes_the_checks(card: SandboxCard) -> None:
    recognised = recognise_card(
        number=card.number, exp_month=12, exp_year=2030, cvc="123", today=TODAY
    )
    assert recognised is card
    assert BY_SHORTCUT[recognised.shortcut] is card
    assert recognised.last4 == recognised.number[-4:]


def test_the_documented_cards_are_all_there() -> None:
    documented = {
        "4242424242424242": CardBehaviour.SUCCEED,
        "4000000000000002": CardBehaviour.DECLINE,
        "4000000000009995": CardBehaviour.INSUFFICIENT_FUNDS,
        "4000002500003155": CardBehaviour.THREE_DS,
        "4000000000000077": CardBehaviour.TIMEOUT_AFTER_CHARGE,
        "4000000000000119": CardBehaviour.PROCESSING_ERROR,
        "4000000000003220": CardBehaviour.ASYNC,
    }
    assert {card.number: card.behaviour for card in TEST_CARDS if card.number in documented} == (
        documented
    )


def test_spaces_and_dashes_in_a_number_are_ignored() -> None:
    card = recognise_card(
        number="4242-4242 4242-4242", exp_month=1, exp_year=2027, cvc="000", today=TODAY
    )
    assert card.shortcut == "pm_card_visa"


@pytest.mark.parametrize(
    ("digits", "valid"),
    [("4242424242424242", True), ("4242424242424241", False), ("79927398713", True), ("0", True)],
)
def test_luhn(digits: str, valid: bool) -> None:
    assert luhn_valid(digits) is valid


@pytest.mark.parametrize(
    ("number", "brand"),
    [
        ("4242424242424242", "visa"),
        ("5555555555554444", "mastercard"),
        ("2223003122003222", "mastercard"),
        ("378282246310005", "amex"),
        ("6011111111111117", "unknown"),
    ],
)
def test_brand_by_prefix(number: str, brand: str) -> None:
    assert brand_of(number) == brand


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"number": "4242"}, "invalid_number"),
        ({"number": "\uff14\uff12" * 8}, "invalid_number"),  # full-width digits
        ({"number": "4242424242424241"}, "incorrect_number"),
        ({"number": "6011111111111117"}, "card_declined"),
        ({"exp_month": 0}, "invalid_expiry_month"),
        ({"exp_year": 2026 + 51}, "invalid_expiry_year"),
        ({"exp_year": 2026, "exp_month": 5}, "expired_card"),
        ({"cvc": "12"}, "invalid_cvc"),
        ({"cvc": "1234"}, "invalid_cvc"),
        ({"cvc": "\uff11\uff12\uff13"}, "invalid_cvc"),  # full-width digits
    ],
)
def test_a_bad_card_is_a_402_that_never_quotes_it(changes: dict[str, object], code: str) -> None:
    card: dict[str, object] = {
        "number": "4242424242424242",
        "exp_month": 12,
        "exp_year": 2030,
        "cvc": "123",
    } | changes

    with pytest.raises(SandboxError) as refused:
        recognise_card(**card, today=TODAY)  # type: ignore[arg-type]

    assert refused.value.status == 402
    assert refused.value.code == code
    text = str(refused.value.body())
    assert str(card["number"]) not in text
    assert str(card["cvc"]) not in text


def test_a_card_expiring_this_month_is_still_good() -> None:
    card = recognise_card(
        number="4242424242424242", exp_month=6, exp_year=2026, cvc="123", today=TODAY
    )
    assert card.behaviour is CardBehaviour.SUCCEED
