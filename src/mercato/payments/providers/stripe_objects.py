"""Stripe's JSON objects (PaymentIntent, Refund, Event) read into the provider DTOs.

Plain mappings in, DTOs out: the same functions read an API answer (`StripeObject.to_dict()`),
the `payment_intent` inside a card error, and a webhook's `data.object`. A field Stripe
leaves out reads as its zero value; an unknown status raises (the gateway records the
call as UNKNOWN rather than guessing).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mercato.payments.providers.base import (
    ProviderEvent,
    ProviderEventKind,
    ProviderPayment,
    ProviderRefund,
    ProviderStatus,
    RefundStatus,
    WebhookRejected,
)
from mercato.payments.providers.scrubbing import scrub_provider_text

REFERENCE_KEY = "mercato_reference"  # the metadata key that carries our payment intent id

_REFUND_STATUS = {
    "pending": RefundStatus.PENDING,
    "requires_action": RefundStatus.PENDING,
    "succeeded": RefundStatus.SUCCEEDED,
    "failed": RefundStatus.FAILED,
    "canceled": RefundStatus.FAILED,
}


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _id_of(value: object) -> str:
    """An id field that may also come expanded into its object."""
    if isinstance(value, Mapping):
        return str(value.get("id", ""))
    return str(value or "")


def payment_from(intent: Mapping[str, Any]) -> ProviderPayment:
    """A PaymentIntent as a `ProviderPayment`.

    `amount_refunded` is only known when `latest_charge` came expanded (retrieve asks for
    it); elsewhere it reads 0, and refunds are tracked through their own objects.
    """
    status = ProviderStatus(intent["status"])
    error = _mapping(intent.get("last_payment_error"))
    redirect = _mapping(_mapping(intent.get("next_action")).get("redirect_to_url"))
    charge = _mapping(intent.get("latest_charge"))
    failure_code = error.get("decline_code") or error.get("code")
    return ProviderPayment(
        provider_id=str(intent["id"]),
        status=status,
        amount=int(intent["amount"]),
        currency=str(intent["currency"]).upper(),
        amount_capturable=int(intent.get("amount_capturable") or 0),
        amount_captured=int(intent.get("amount_received") or 0),
        amount_refunded=int(charge.get("amount_refunded") or 0),
        failure_code=str(failure_code) if failure_code else None,
        failure_message=scrub_provider_text(error.get("message")) or None,
        action_url=(
            str(redirect["url"])
            if status is ProviderStatus.REQUIRES_ACTION and redirect.get("url")
            else None
        ),
    )


def refund_from(refund: Mapping[str, Any]) -> ProviderRefund:
    """A Refund as a `ProviderRefund` (requires_action counts as pending, canceled as
    failed: in both cases no money has gone back)."""
    failure = refund.get("failure_reason")
    return ProviderRefund(
        provider_id=str(refund["id"]),
        payment_provider_id=_id_of(refund.get("payment_intent")),
        status=_REFUND_STATUS[str(refund["status"])],
        amount=int(refund["amount"]),
        currency=str(refund["currency"]).upper(),
        failure_code=str(failure) if failure else None,
    )


def event_from(event: Mapping[str, Any]) -> ProviderEvent:
    """A verified webhook's event; payment intents and refunds are read, other types are
    acknowledged and ignored. Raises `WebhookRejected` if it is not an event at all."""
    try:
        event_id, event_type = str(event["id"]), str(event["type"])
        created = int(event["created"])
        obj = _mapping(_mapping(event["data"])["object"])
    except (KeyError, TypeError, ValueError):
        raise WebhookRejected("the body is not a Stripe event") from None
    kind = ProviderEventKind.IGNORED
    payment: ProviderPayment | None = None
    refund: ProviderRefund | None = None
    try:
        if obj.get("object") == "payment_intent":
            kind, payment = ProviderEventKind.PAYMENT_UPDATED, payment_from(obj)
        elif obj.get("object") == "refund":
            kind, refund = ProviderEventKind.REFUND_UPDATED, refund_from(obj)
    except (KeyError, TypeError, ValueError):
        raise WebhookRejected(f"unreadable {obj.get('object')} in {event_type}") from None
    return ProviderEvent(
        event_id=event_id,
        event_type=event_type,
        kind=kind,
        created=created,
        payment=payment,
        refund=refund,
    )


def search_query(reference: str) -> str:
    """Stripe Search query for the intents carrying our reference (quotes escaped)."""
    escaped = reference.replace("\\", "\\\\").replace("'", "\\'")
    return f"metadata['{REFERENCE_KEY}']:'{escaped}'"
