"""Request and response bodies of the payments API (never ORM objects)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator

from mercato.payments.models import PaymentIntent, Refund
from mercato.platform.money import MAX_MINOR_UNITS, is_known_currency
from mercato.platform.validation import SafeLine

Amount = Annotated[int, Field(ge=1, le=MAX_MINOR_UNITS, description="Integer minor units")]
MetadataKey = Annotated[SafeLine, Field(min_length=1, max_length=40)]
MetadataValue = Annotated[SafeLine, Field(max_length=500)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IntentIn(_Input):
    """A payment intent to create (the API's checkout sends it with a service token)."""

    amount: Amount
    currency: str = Field(min_length=3, max_length=3, examples=["EUR"])
    order_reference: Annotated[SafeLine, Field(min_length=1, max_length=100)]
    customer_id: uuid.UUID | None = None
    capture_method: Literal["automatic", "manual"] = "automatic"
    description: Annotated[SafeLine, Field(max_length=500)] | None = None
    metadata: dict[MetadataKey, MetadataValue] = Field(default_factory=dict, max_length=20)

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        if not is_known_currency(value):
            raise ValueError("not an accepted ISO 4217 currency code (upper case)")
        return value


class ConfirmIn(_Input):
    """Pay with a payment method made at the provider (the card never reaches us)."""

    payment_method: str = Field(
        pattern=r"^pm_[A-Za-z0-9_]{1,100}$", examples=["pm_card_visa"], max_length=103
    )
    return_url: AnyHttpUrl | None = None


class CaptureIn(_Input):
    amount: Amount | None = Field(default=None, description="Default: all that is capturable")


CancellationReason = Literal[
    "requested_by_customer", "abandoned", "duplicate", "fraudulent", "order_canceled", "expired"
]


class CancelIn(_Input):
    reason: CancellationReason | None = None


class RefundIn(_Input):
    amount: Amount | None = Field(default=None, description="Default: all not yet refunded")
    reason: Literal["requested_by_customer", "duplicate", "fraudulent", "order_canceled"] | None = (
        None
    )


class PaymentError(BaseModel):
    code: str
    message: str | None


class NextAction(BaseModel):
    type: Literal["redirect_to_url"] = "redirect_to_url"
    redirect_url: str


class IntentOut(BaseModel):
    id: uuid.UUID
    status: str
    amount: int
    currency: str
    capture_method: str
    order_reference: str
    customer_id: uuid.UUID | None
    description: str | None
    metadata: dict[str, str]
    amount_capturable: int
    amount_received: int
    amount_refunded: int
    last_payment_error: PaymentError | None
    next_action: NextAction | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, intent: PaymentIntent) -> IntentOut:
        return cls(
            id=intent.id,
            status=intent.status,
            amount=intent.amount,
            currency=intent.currency,
            capture_method=intent.capture_method,
            order_reference=intent.order_reference,
            customer_id=intent.customer_id,
            description=intent.description,
            metadata=intent.metadata_,
            amount_capturable=intent.amount_capturable,
            amount_received=intent.amount_received,
            amount_refunded=intent.amount_refunded,
            last_payment_error=(
                PaymentError(code=intent.last_failure_code, message=intent.last_failure_message)
                if intent.last_failure_code is not None
                else None
            ),
            next_action=(
                NextAction(redirect_url=intent.next_action_url)
                if intent.next_action_url is not None
                else None
            ),
            version=intent.version,
            created_at=intent.created_at,
            updated_at=intent.updated_at,
        )


class RefundOut(BaseModel):
    id: uuid.UUID
    intent_id: uuid.UUID
    amount: int
    currency: str
    status: str
    reason: str | None
    failure_code: str | None
    created_at: dt.datetime

    @classmethod
    def of(cls, refund: Refund) -> RefundOut:
        return cls(
            id=refund.id,
            intent_id=refund.intent_id,
            amount=refund.amount,
            currency=refund.currency,
            status=refund.status,
            reason=refund.reason,
            failure_code=refund.failure_code,
            created_at=refund.created_at,
        )
