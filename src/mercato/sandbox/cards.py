"""The test cards (docs/sandbox.md) and the checks a processor runs on a card.

A card number is looked at once, here, and reduced to what may be kept: its brand, its last
four digits and what the sandbox will do with it. The number itself and the CVC are never
stored, logged or sent back.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from mercato.sandbox.errors import ErrorType, SandboxError


class CardBehaviour(StrEnum):
    """What confirming a payment with the card does."""

    SUCCEED = "succeed"
    DECLINE = "decline"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    THREE_DS = "three_ds"
    TIMEOUT_AFTER_CHARGE = "timeout_after_charge"
    PROCESSING_ERROR = "processing_error"
    ASYNC = "async"


@dataclass(frozen=True, slots=True)
class SandboxCard:
    number: str
    shortcut: str  # the payment method id that stands for the card, e.g. "pm_card_visa"
    behaviour: CardBehaviour

    @property
    def brand(self) -> str:
        return brand_of(self.number)

    @property
    def last4(self) -> str:
        return self.number[-4:]


TEST_CARDS: tuple[SandboxCard, ...] = (
    SandboxCard("4242424242424242", "pm_card_visa", CardBehaviour.SUCCEED),
    SandboxCard("5555555555554444", "pm_card_mastercard", CardBehaviour.SUCCEED),
    SandboxCard("4000000000000002", "pm_card_declined", CardBehaviour.DECLINE),
    SandboxCard("4000000000009995", "pm_card_insufficient_funds", CardBehaviour.INSUFFICIENT_FUNDS),
    SandboxCard("4000002500003155", "pm_card_threeds", CardBehaviour.THREE_DS),
    SandboxCard(
        "4000000000000077", "pm_card_timeout_after_charge", CardBehaviour.TIMEOUT_AFTER_CHARGE
    ),
    SandboxCard("4000000000000119", "pm_card_processing_error", CardBehaviour.PROCESSING_ERROR),
    SandboxCard("4000000000003220", "pm_card_async", CardBehaviour.ASYNC),
)
_BY_NUMBER = {card.number: card for card in TEST_CARDS}
BY_SHORTCUT = {card.shortcut: card for card in TEST_CARDS}

# Why a confirmation failed: (code, message), as the intent's `last_payment_error`.
DECLINES: dict[CardBehaviour, tuple[str, str]] = {
    CardBehaviour.DECLINE: ("card_declined", "Your card was declined."),
    CardBehaviour.INSUFFICIENT_FUNDS: ("insufficient_funds", "Your card has insufficient funds."),
}
AUTHENTICATION_FAILED = (
    "payment_intent_authentication_failure",
    "The customer did not authenticate the payment.",
)


def luhn_valid(digits: str) -> bool:
    """The check digit every card number carries (ISO/IEC 7812)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def brand_of(number: str) -> str:
    if number.startswith("4"):
        return "visa"
    if number[:2] in {"51", "52", "53", "54", "55"} or 2221 <= int(number[:4] or 0) <= 2720:
        return "mastercard"
    if number[:2] in {"34", "37"}:
        return "amex"
    return "unknown"


def _card_error(code: str, message: str, param: str) -> SandboxError:
    return SandboxError(402, code, message, type_=ErrorType.CARD, param=f"card[{param}]")


def recognise_card(
    *, number: str, exp_month: int, exp_year: int, cvc: str, today: dt.date
) -> SandboxCard:
    """The test card `number` stands for, after the checks a processor runs; a 402
    card error (that never quotes the number or the CVC) otherwise."""
    digits = number.replace(" ", "").replace("-", "")
    if not (digits.isascii() and digits.isdigit() and 12 <= len(digits) <= 19):
        raise _card_error("invalid_number", "The card number is not a valid number.", "number")
    if not luhn_valid(digits):
        raise _card_error("incorrect_number", "The card number is incorrect.", "number")
    if not 1 <= exp_month <= 12:
        raise _card_error("invalid_expiry_month", "The expiry month is invalid.", "exp_month")
    if not today.year <= exp_year <= today.year + 50:
        raise _card_error("invalid_expiry_year", "The expiry year is invalid.", "exp_year")
    if (exp_year, exp_month) < (today.year, today.month):
        raise _card_error("expired_card", "The card has expired.", "exp_month")
    expected_cvc_length = 4 if brand_of(digits) == "amex" else 3
    if not (cvc.isascii() and cvc.isdigit() and len(cvc) == expected_cvc_length):
        raise _card_error("invalid_cvc", "The card's security code is invalid.", "cvc")
    card = _BY_NUMBER.get(digits)
    if card is None:
        # A sandbox takes test cards only, so a real number typed by mistake goes nowhere.
        raise _card_error(
            "card_declined",
            "The sandbox accepts test card numbers only (see docs/sandbox.md).",
            "number",
        )
    return card
