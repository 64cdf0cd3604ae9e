"""Registering a merchant endpoint: what production refuses before anything is stored."""

from __future__ import annotations

import pytest

from mercato.payments.errors import InvalidWebhookTarget
from mercato.payments.merchant_webhooks import TargetPolicy
from mercato.payments.webhook_endpoints import TargetCheck

LOOPBACK = TargetPolicy.from_entries(("127.0.0.0/8",))


async def test_production_refuses_plain_http() -> None:
    production = TargetCheck(LOOPBACK, refuse_unresolvable=True, require_https=True)
    with pytest.raises(InvalidWebhookTarget) as refused:
        await production.check("http://127.0.0.1:9/hooks")
    assert refused.value.errors[0]["pointer"] == "/url"
    await production.check("https://127.0.0.1:9/hooks")  # allow-listed, https: accepted


async def test_development_accepts_plain_http() -> None:
    development = TargetCheck(LOOPBACK, refuse_unresolvable=False)
    await development.check("http://127.0.0.1:9/hooks")
