"""The payments service's services, built once per process (`startup.start`)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from mercato.payments.config import PaymentsSettings
from mercato.payments.gateway import PaymentGateway
from mercato.platform.security.fields import FieldKeyRing


@dataclass(slots=True)
class PaymentsServices:
    settings: PaymentsSettings
    # The provider, behind deadlines, retries and its circuit breaker.
    gateway: PaymentGateway
    # Merchant endpoints' signing secrets are stored encrypted with these keys.
    field_keys: FieldKeyRing
    # Merchant webhook deliveries (no redirects, connections pinned to checked addresses).
    webhook_client: httpx.AsyncClient

    @property
    def provider(self) -> str:
        return self.gateway.provider.name
