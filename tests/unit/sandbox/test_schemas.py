"""Request bodies are strict: integers, bounded text, known currencies, no control bytes."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from mercato.platform.money import MAX_MINOR_UNITS
from mercato.sandbox.schemas import ConfirmIn, CreateIntentIn, RefundIn

VALID: dict[str, Any] = {"amount": 1_000, "currency": "eur", "reference": "ord-1"}


def test_a_valid_intent_is_normalised() -> None:
    intent = CreateIntentIn.model_validate(VALID | {"metadata": {"order": "o-1"}})

    assert intent.currency == "EUR"
    assert intent.capture_method == "automatic"
    assert intent.metadata == {"order": "o-1"}


@pytest.mark.parametrize(
    "change",
    [
        {"amount": MAX_MINOR_UNITS + 1},
        {"amount": 0},
        {"amount": 1.0},
        {"amount": "1"},
        {"amount": False},
        {"currency": "ZZZ"},
        {"reference": "tab\tinside"},
        {"reference": "nul\x00inside"},
        {"reference": "del\x7f"},
        {"metadata": {"k": "v\x00"}},
        {"metadata": {"x" * 41: "v"}},
        {"metadata": {"k": "v" * 501}},
        {"capture_method": "Manual"},
        {"extra": "field"},
    ],
)
def test_bad_intents_are_refused(change: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        CreateIntentIn.model_validate(VALID | change)


@pytest.mark.parametrize(
    "body",
    [
        {"payment_method": "pm_card_visa", "return_url": "ftp://shop.example"},
        {"payment_method": "pm_"},
        {"payment_method": "pm_card visa"},
        {"payment_method": "pi_0123"},
    ],
)
def test_bad_confirmations_are_refused(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ConfirmIn.model_validate(body)


def test_a_refund_names_a_payment_intent_id() -> None:
    assert RefundIn.model_validate({"payment_intent": "pi_" + "a" * 24}).amount is None
    with pytest.raises(ValidationError):
        RefundIn.model_validate({"payment_intent": "pi_../../ledger"})
