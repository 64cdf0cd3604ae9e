"""The payments service's services, built once per process (`startup.start`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import httpx

from mercato.payments.config import PaymentsSettings
from mercato.payments.gateway import PaymentGateway
from mercato.payments.webhook_endpoints import TargetCheck
from mercato.payments.webhook_metrics import WebhookMetrics
from mercato.payments.webhook_sending import Sender
from mercato.platform.security.fields import FieldKeyFile, FieldKeyRing


@dataclass(slots=True)
class PaymentsServices:
    settings: PaymentsSettings
    # The provider, behind deadlines, retries and its circuit breaker.
    gateway: PaymentGateway
    # Merchant endpoints' signing secrets are stored encrypted with this ring, read again
    # when `mercato payments keys rotate` changes it (`field_keys`).
    field_key_file: FieldKeyFile
    # Merchant webhook deliveries (no redirects, connections pinned to checked addresses).
    webhook_client: httpx.AsyncClient
    # How an endpoint's URL is checked when it is registered (the SSRF allow-list).
    webhook_targets: TargetCheck
    # Delivery attempts, successes, failures and latency (the process's /metrics).
    webhook_metrics: WebhookMetrics

    @property
    def field_keys(self) -> FieldKeyRing:
        return self.field_key_file.ring()

    @property
    def webhook_sender(self) -> Sender:
        return Sender(
            client=self.webhook_client,
            settings=self.settings.merchant_webhooks(),
            keys=self.field_keys,
            metrics=self.webhook_metrics,
        )

    @property
    def secret_grace(self) -> dt.timedelta:
        """How long the previous secret signs alongside after a rotation."""
        return dt.timedelta(seconds=self.settings.webhook_secret_grace_s)

    @property
    def provider(self) -> str:
        return self.gateway.provider.name

    @property
    def recheck_after(self) -> dt.timedelta:
        """How soon the reconciler asks about a payment whose outcome we did not learn."""
        return dt.timedelta(seconds=self.settings.reconcile_after_s)
