"""The payments service's domain errors (each maps to one problem type)."""

from __future__ import annotations

from mercato.platform import errors


class IntentNotFound(errors.NotFound):
    code = "payment-intent-not-found"
    title = "No such payment intent"


class IntentExistsForOrder(errors.Conflict):
    """An order has one live payment intent: a double click, or two checkouts of one order
    with different idempotency keys, does not make a second one."""

    code = "intent-exists-for-order"
    title = "This order already has a payment intent"


class PaymentInProgress(errors.Conflict):
    """An attempt is in flight, waits for the customer, or its outcome is being reconciled:
    nothing new starts on the intent until it is settled."""

    code = "payment-in-progress"
    title = "A payment attempt on this intent is in progress"


class InvalidIntentState(errors.Conflict):
    code = "invalid-intent-state"
    title = "The payment intent's state does not allow this"


class RefundExceedsCapture(errors.Conflict):
    code = "refund-exceeds-capture"
    title = "Refunds cannot exceed the captured amount"


class ProviderDeclined(errors.Invalid):
    """The provider refused the request itself (not a card decline: those are answers)."""

    code = "provider-rejected"
    title = "The payment provider refused the request"


class ProviderUnavailable(errors.Unavailable):
    """Nothing reached the provider (breaker open, unreachable, throttled): retry later."""

    code = "provider-unavailable"
    title = "The payment provider cannot be reached right now"


class WebhookEndpointNotFound(errors.NotFound):
    code = "webhook-endpoint-not-found"
    title = "No such webhook endpoint"


class WebhookDeliveryNotFound(errors.NotFound):
    code = "webhook-delivery-not-found"
    title = "No such webhook delivery"


class InvalidWebhookTarget(errors.Invalid):
    """The URL cannot be delivered to: its shape (scheme, credentials, host), or an address
    the SSRF guard refuses (private, loopback, link-local) that no allow-list permits."""

    code = "invalid-webhook-target"
    title = "Webhooks cannot be sent to this URL"


class WebhookEndpointNotEnabled(errors.Conflict):
    """Replays go to enabled endpoints only: re-enable the endpoint first."""

    code = "webhook-endpoint-disabled"
    title = "The webhook endpoint is disabled"
