"""Events the payments service publishes (contracts, version 1).

Other services react to these (orders confirms or cancels an order by them) and merchant
webhooks carry them out. They are exported by `mercato.payments` (the package surface):
the contracts are the one thing of payments another context may import.
"""

from __future__ import annotations

import uuid

from mercato.platform.events.contracts import EventPayload

INTENT = "payments.intent"
REFUND = "payments.refund"


class _IntentEvent(EventPayload):
    aggregate_type = INTENT

    intent_id: uuid.UUID
    order_reference: str
    amount: int
    currency: str


class IntentRequiresAction(_IntentEvent):
    """The customer must authenticate the payment (3-D Secure) at `action_url`."""

    name = "payments.intent.requires_action"
    version = 1

    action_url: str | None


class IntentAuthorized(_IntentEvent):
    """The payment is authorised and waits to be captured (manual capture)."""

    name = "payments.intent.authorized"
    version = 1

    amount_capturable: int


class IntentSucceeded(_IntentEvent):
    """The money is captured: `amount_received` minor units."""

    name = "payments.intent.succeeded"
    version = 1

    amount_received: int


class IntentFailed(_IntentEvent):
    """An attempt failed (declined, or refused by the provider); the intent is back to
    `requires_payment_method`: the customer may try another payment method."""

    name = "payments.intent.failed"
    version = 1

    failure_code: str | None


class IntentCanceled(_IntentEvent):
    """The intent is canceled: nothing was captured (an authorisation is released)."""

    name = "payments.intent.canceled"
    version = 1

    reason: str | None


class _RefundEvent(EventPayload):
    aggregate_type = INTENT  # ordered with its intent's events

    refund_id: uuid.UUID
    intent_id: uuid.UUID
    order_reference: str
    amount: int
    currency: str


class RefundSucceeded(_RefundEvent):
    """Money went back to the customer; `amount_refunded` is the intent's total so far."""

    name = "payments.refund.succeeded"
    version = 1

    amount_refunded: int


class RefundFailed(_RefundEvent):
    """The provider refused or failed the refund; its amount may be refunded again."""

    name = "payments.refund.failed"
    version = 1

    failure_code: str | None


class WebhookEndpointDisabled(EventPayload):
    """A merchant endpoint was disabled: 410 Gone (`gone`), deliveries failing for days
    (`retries_exhausted`), a URL that can never be delivered to (`invalid_target`), or by
    an administrator (`disabled_by_admin`, `deleted`)."""

    name = "payments.webhook_endpoint.disabled"
    version = 1
    aggregate_type = "payments.webhook_endpoint"

    endpoint_id: uuid.UUID
    reason: str


CONTRACTS: tuple[type[EventPayload], ...] = (
    IntentRequiresAction,
    IntentAuthorized,
    IntentSucceeded,
    IntentFailed,
    IntentCanceled,
    RefundSucceeded,
    RefundFailed,
    WebhookEndpointDisabled,
)
