"""Merchant webhooks out, the sending side as a library: Standard Webhooks signing, one
delivery attempt with its verdict, the retry schedule, and the SSRF guard. The tables and
jobs that drive it load rows and call `deliver`."""

from mercato.payments.merchant_webhooks.delivery import (
    DeliveryAttempt,
    WebhookEndpoint,
    WebhookMessage,
    deliver,
    new_delivery_client,
)
from mercato.payments.merchant_webhooks.schedule import (
    MAX_ATTEMPTS,
    RETRY_DELAYS,
    Delivered,
    DeliveryVerdict,
    DisableEndpoint,
    DisableReason,
    RetryAt,
    next_attempt,
    parse_retry_after,
)
from mercato.payments.merchant_webhooks.signing import new_endpoint_secret, signature_headers
from mercato.payments.merchant_webhooks.targets import (
    InvalidTarget,
    TargetPolicy,
    TargetRefused,
    TargetUnresolvable,
    parse_target_url,
    resolve_target,
)

__all__ = [
    "MAX_ATTEMPTS",
    "RETRY_DELAYS",
    "Delivered",
    "DeliveryAttempt",
    "DeliveryVerdict",
    "DisableEndpoint",
    "DisableReason",
    "InvalidTarget",
    "RetryAt",
    "TargetPolicy",
    "TargetRefused",
    "TargetUnresolvable",
    "WebhookEndpoint",
    "WebhookMessage",
    "deliver",
    "new_delivery_client",
    "new_endpoint_secret",
    "next_attempt",
    "parse_retry_after",
    "parse_target_url",
    "resolve_target",
    "signature_headers",
]
