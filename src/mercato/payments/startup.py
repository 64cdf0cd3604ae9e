"""Starting the payments service in a process: its provider behind the gateway, the key set
that recognises callers, the keys of merchant secrets, and the webhook client."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import stamina

from mercato.payments.auth import PaymentsAuthenticator
from mercato.payments.config import PaymentsSettings
from mercato.payments.gateway import PaymentGateway
from mercato.payments.merchant_webhooks import TargetPolicy, new_delivery_client
from mercato.payments.provider_metrics import GatewayMetrics
from mercato.payments.providers.base import PaymentProvider
from mercato.payments.providers.sandbox import SandboxProvider
from mercato.payments.providers.stripe import StripeProvider
from mercato.payments.services import PaymentsServices
from mercato.payments.webhook_endpoints import TargetCheck
from mercato.payments.webhook_metrics import WebhookMetrics
from mercato.platform.config import Settings
from mercato.platform.module import Started
from mercato.platform.runtime import Runtime
from mercato.platform.security.fields import FieldKeyFile
from mercato.platform.security.jwks import RemoteKeySet

FIELD_KEYS = "payments-field-keys.json"


@asynccontextmanager
async def start(runtime: Runtime) -> AsyncIterator[Started]:
    settings = runtime.settings.section(PaymentsSettings)
    # stamina's process-wide hooks would log every retry a second time: the gateway's
    # metrics and logs already say it.
    stamina.instrumentation.set_on_retry_hooks([])
    gateway = PaymentGateway(
        provider_for(settings),
        policy=settings.call_policy,
        metrics=GatewayMetrics(runtime.registry),
    )
    keys = RemoteKeySet(settings.jwks_url)
    webhooks = settings.merchant_webhooks()
    services = PaymentsServices(
        settings=settings,
        gateway=gateway,
        field_key_file=FieldKeyFile(field_keys_path(runtime.settings)),
        webhook_client=new_delivery_client(webhooks),
        webhook_targets=TargetCheck(
            TargetPolicy.from_entries(webhooks.allowed_private_targets),
            refuse_unresolvable=runtime.settings.is_production,
            require_https=runtime.settings.is_production,
        ),
        webhook_metrics=WebhookMetrics(runtime.registry),
    )
    try:
        yield Started(services, authenticator=PaymentsAuthenticator(settings, keys))
    finally:
        await gateway.aclose()
        await services.webhook_client.aclose()
        await keys.aclose()


def field_keys_path(settings: Settings) -> Path:
    """The payments field key ring's file (PAYMENTS_FIELD_KEYS_FILE, or the data dir's)."""
    return settings.key_file(settings.section(PaymentsSettings).field_keys_file, FIELD_KEYS)


def provider_for(settings: PaymentsSettings) -> PaymentProvider:
    """The configured provider's adapter (its secrets from the settings, or, for the
    sandbox in development, from the sandbox's credentials file)."""
    if settings.provider == "stripe":
        return StripeProvider(settings.stripe())
    api_key = settings.sandbox_api_key.get_secret_value() if settings.sandbox_api_key else None
    secrets = tuple(secret.get_secret_value() for secret in settings.sandbox_webhook_secrets)
    if api_key is None or not secrets:
        api_key, secrets = _sandbox_credentials(settings)
    return SandboxProvider(
        base_url=settings.sandbox_url,
        api_key=api_key,
        webhook_secrets=secrets,
        connect_timeout_s=settings.provider_connect_timeout_s,
        read_timeout_s=settings.provider_read_timeout_s,
    )


def _sandbox_credentials(settings: PaymentsSettings) -> tuple[str, tuple[str, ...]]:
    """The sandbox's credentials file (docs/sandbox.md): `{"api_key", "webhook_secrets"}`."""
    path = settings.sandbox_credentials_file
    try:
        document = json.loads(path.read_text())
        api_key, secrets = document["api_key"], tuple(document["webhook_secrets"])
    except (OSError, ValueError, KeyError, TypeError):
        raise ValueError(
            "the sandbox provider needs PAYMENTS_SANDBOX_API_KEY and"
            f" PAYMENTS_SANDBOX_WEBHOOK_SECRETS, or its credentials file at {path}"
            " (made by `mercato sandbox serve` or `mercato run`)"
        ) from None
    if not isinstance(api_key, str) or not all(isinstance(s, str) for s in secrets):
        raise ValueError(f"{path} is not a sandbox credentials file")
    return api_key, secrets
