"""Request bodies, validated strictly: integers are integers (no "100", no 100.0), unknown
fields are refused, text is bounded and free of control characters (a NUL byte would
otherwise reach PostgreSQL, which refuses it in text)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StringConstraints

from mercato.platform.money import MAX_MINOR_UNITS, is_known_currency

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
INTENT_ID = re.compile(r"pi_[0-9a-f]{24}")
REFUND_ID = re.compile(r"re_[0-9a-f]{24}")
PAYMENT_METHOD_ID = re.compile(r"pm_[A-Za-z0-9_]{1,64}")
ACTION_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,64}")


def _no_control_characters(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


def _currency(value: str) -> str:
    code = value.upper()
    if not is_known_currency(code):
        raise ValueError("is not a supported ISO 4217 currency")
    return code


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// URL")
    return value


def _matches(pattern: re.Pattern[str], what: str) -> AfterValidator:
    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise ValueError(f"is not a {what} id")
        return value

    return AfterValidator(check)


_Printable = AfterValidator(_no_control_characters)
Reference = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=200), _Printable]
MetadataKey = Annotated[
    str, StringConstraints(strict=True, min_length=1, max_length=40), _Printable
]
MetadataValue = Annotated[str, StringConstraints(strict=True, max_length=500), _Printable]
Amount = Annotated[StrictInt, Field(ge=1, le=MAX_MINOR_UNITS)]
Currency = Annotated[
    str, StringConstraints(strict=True, min_length=3, max_length=3), AfterValidator(_currency)
]
Url = Annotated[
    str, StringConstraints(strict=True, max_length=2048), _Printable, AfterValidator(_http_url)
]
IntentId = Annotated[str, StringConstraints(strict=True), _matches(INTENT_ID, "payment intent")]
PaymentMethodId = Annotated[
    str, StringConstraints(strict=True), _matches(PAYMENT_METHOD_ID, "payment method")
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CardIn(_Body):
    # Bounded as strings; the card checks (cards.py) say what is wrong, without echoing it.
    number: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=32)]
    exp_month: Annotated[StrictInt, Field(ge=-(10**6), le=10**6)]
    exp_year: Annotated[StrictInt, Field(ge=-(10**6), le=10**6)]
    cvc: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=8)]


class PaymentMethodIn(_Body):
    type: Literal["card"] = "card"
    card: CardIn


class CreateIntentIn(_Body):
    amount: Amount
    currency: Currency
    reference: Reference
    capture_method: Literal["automatic", "manual"] = "automatic"
    metadata: Annotated[dict[MetadataKey, MetadataValue], Field(max_length=50)] = {}


class ConfirmIn(_Body):
    payment_method: PaymentMethodId
    return_url: Url | None = None


class CaptureIn(_Body):
    amount_to_capture: Amount | None = None


class CancelIn(_Body):
    cancellation_reason: Reference | None = None


class RefundIn(_Body):
    payment_intent: IntentId
    amount: Amount | None = None  # default: everything not refunded yet


class ActionIn(_Body):
    outcome: Literal["approve", "decline"]
