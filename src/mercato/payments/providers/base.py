"""The one shape every payment provider adapter has: a protocol, its DTOs and its errors.

Adapters translate; they never retry, never sleep and never decide what an indeterminate
answer means. The gateway facade (`payments.gateway`) owns timeouts, retries with backoff,
provider idempotency keys and the circuit breaker, so every provider gets them alike.

Amounts are integers in the currency's minor units (`mercato.platform.money`); there is no
float anywhere on this path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


class CaptureMethod(StrEnum):
    AUTOMATIC = "automatic"  # authorise and capture in one step
    MANUAL = "manual"  # authorise now, capture later (full or partial)


class ProviderStatus(StrEnum):
    """A payment as the provider sees it (Stripe's vocabulary, which processors share)."""

    REQUIRES_PAYMENT_METHOD = "requires_payment_method"  # new, or the last attempt failed
    REQUIRES_CONFIRMATION = "requires_confirmation"
    REQUIRES_ACTION = "requires_action"  # the customer must authenticate (3-D Secure)
    PROCESSING = "processing"  # the provider will say how it ended (webhook or retrieve)
    REQUIRES_CAPTURE = "requires_capture"  # authorised, not yet captured
    SUCCEEDED = "succeeded"  # money captured (refunds may follow)
    CANCELED = "canceled"


class RefundStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class CreatePayment:
    """Ask the provider for a payment object (nothing is charged yet)."""

    amount: int
    currency: str  # ISO 4217, upper case
    reference: str  # our payment intent id: lets the provider's dashboard and ours meet
    capture_method: CaptureMethod = CaptureMethod.AUTOMATIC
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ProviderPayment:
    """The provider's view of one payment, after any call that reads or changes it."""

    provider_id: str  # the provider's reference ("pi_...")
    status: ProviderStatus
    amount: int
    currency: str
    amount_capturable: int = 0
    amount_captured: int = 0
    amount_refunded: int = 0
    # Why the last attempt failed ("card_declined", "insufficient_funds", ...), if it did.
    failure_code: str | None = None
    failure_message: str | None = None
    # Where the customer completes an action (REQUIRES_ACTION only).
    action_url: str | None = None


@dataclass(frozen=True, slots=True)
class ProviderRefund:
    provider_id: str  # "re_..."
    payment_provider_id: str
    status: RefundStatus
    amount: int
    currency: str
    failure_code: str | None = None


class ProviderEventKind(StrEnum):
    """What a provider webhook says happened, in our words."""

    PAYMENT_UPDATED = "payment_updated"  # read `payment` for the new state
    REFUND_UPDATED = "refund_updated"  # read `refund`
    IGNORED = "ignored"  # a type we do not act on (still acknowledged with 2xx)


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    """A verified provider webhook: its id (for deduplication) and what it carries."""

    event_id: str
    event_type: str  # the provider's own name, e.g. "payment_intent.succeeded"
    kind: ProviderEventKind
    created: int  # unix seconds, as the provider stamped it
    payment: ProviderPayment | None = None
    refund: ProviderRefund | None = None


class ProviderError(Exception):
    """Base of what an adapter raises; never carries card data or secrets in its text."""


class ProviderRejected(ProviderError):
    """A 4xx the provider meant: invalid request, unknown object, wrong state. Never
    retried; the request had no effect."""

    def __init__(self, code: str, message: str, *, status: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


class ProviderNotReached(ProviderError):
    """The request certainly did not reach the provider (connection refused, DNS, TLS
    handshake, breaker open before sending): safe to retry, and nothing happened."""


class ProviderBusy(ProviderError):
    """429: the provider throttled us; the request had no effect. Retry after a while."""

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ProviderOutcomeUnknown(ProviderError):
    """The request may or may not have taken effect: a read timeout after sending, a reset
    connection, a 5xx. Retrying with the same idempotency key is safe; if retries run out
    the attempt is UNKNOWN and must be reconciled before any new attempt."""


class WebhookRejected(ProviderError):
    """A webhook whose signature, timestamp or body does not verify. Answer 400, do
    nothing."""


class PaymentProvider(Protocol):
    """One payment provider. Every mutating call takes the idempotency key the gateway
    derived (from the attempt or refund id) and stored before the first try."""

    name: str

    async def create_payment(
        self, request: CreatePayment, *, idempotency_key: str
    ) -> ProviderPayment: ...

    async def confirm_payment(
        self,
        provider_id: str,
        *,
        payment_method: str,
        return_url: str | None,
        idempotency_key: str,
    ) -> ProviderPayment: ...

    async def capture_payment(
        self, provider_id: str, *, amount: int, idempotency_key: str
    ) -> ProviderPayment: ...

    async def cancel_payment(
        self, provider_id: str, *, idempotency_key: str
    ) -> ProviderPayment: ...

    async def refund_payment(
        self, provider_id: str, *, amount: int, idempotency_key: str
    ) -> ProviderRefund: ...

    async def retrieve_payment(self, provider_id: str) -> ProviderPayment: ...

    async def find_payment(self, reference: str) -> ProviderPayment | None:
        """The provider's payment for our `reference` (reconciliation after a create whose
        answer was lost), or None if the provider never made one."""
        ...

    def verify_webhook(self, body: bytes, headers: Mapping[str, str], *, now: int) -> ProviderEvent:
        """Verify the signature over the raw bytes (constant time; every configured secret
        accepted, for rotation) and the timestamp tolerance; parse the event. Raises
        `WebhookRejected`."""
        ...

    async def aclose(self) -> None: ...
