"""The payments service as a process of its own: its modules, and its settings (the
platform's, on the payments database: `PAYMENTS_DATABASE_URL`, or the main database's
server with the `payments` schema first on the search path)."""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import SecretStr

from mercato.payments.config import PaymentsSettings
from mercato.payments.module import module as payments
from mercato.payments.schema import SCHEMA
from mercato.platform import kernel
from mercato.platform.app import create_app
from mercato.platform.config import Settings
from mercato.platform.db.database import Database
from mercato.platform.module import Module

MODULES: tuple[Module, ...] = (payments, kernel.module)


def service_settings(settings: Settings) -> Settings:
    """`settings` (read for the API) turned into the payments service's own: its database
    and schema, its host and port."""
    own = settings.section(PaymentsSettings)
    database = settings.database.model_copy(
        update={
            "url": own.database_url or settings.database.url,
            "read_url": None,
            "schema_name": SCHEMA,
        }
    )
    if own.database_url is not None:
        database = database.model_copy(
            update={"url": SecretStr(own.database_url.get_secret_value())}
        )
    return settings.model_copy(update={"database": database, "host": own.host, "port": own.port})


def create_payments_app(settings: Settings, *, database: Database | None = None) -> FastAPI:
    """The payments service's application (`settings` already its own: `service_settings`)."""
    return create_app(
        settings,
        modules=MODULES,
        database=database,
        title="Mercato Payments",
        summary="Payment intents, provider integrations and merchant webhooks.",
        dev_routes=False,
    )
