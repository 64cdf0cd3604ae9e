"""Orders' services, built once per process: settings, the field keys that seal shipping
addresses, the payments service's client, and whether carts may show exact stock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from mercato.catalog import stock_counts_exposed
from mercato.orders.config import OrdersSettings
from mercato.orders.payments_client import PaymentsClient
from mercato.platform.config import Settings
from mercato.platform.module import Started
from mercato.platform.runtime import Runtime
from mercato.platform.security.fields import FieldKeyRing

# Identity's default file: personal fields of every context share one key ring (and one
# rotation); ORDERS_FIELD_KEYS_FILE names it when IDENTITY_FIELD_KEYS_FILE moves it.
FIELD_KEYS = "field-keys.json"


@dataclass(frozen=True, slots=True)
class OrdersServices:
    settings: OrdersSettings
    field_keys: FieldKeyRing
    payments: PaymentsClient
    # `CATALOG_EXPOSE_STOCK_COUNTS`: off, a cart's answers never depend on the exact count.
    stock_counts_shown: bool = False


def field_keys_file(settings: Settings) -> Path:
    return settings.key_file(settings.section(OrdersSettings).field_keys_file, FIELD_KEYS)


@asynccontextmanager
async def start(runtime: Runtime) -> AsyncIterator[Started]:
    own = runtime.settings.section(OrdersSettings)
    payments = PaymentsClient(own, tokens=lambda: runtime.service_tokens)
    try:
        yield Started(
            OrdersServices(
                settings=own,
                field_keys=FieldKeyRing.load_or_create(field_keys_file(runtime.settings)),
                payments=payments,
                stock_counts_shown=stock_counts_exposed(runtime.settings),
            )
        )
    finally:
        await payments.close()
