"""The whole of Mercato in one process, for `mercato run`: the API and its worker, the
payments service and its worker (its own schema), and the sandbox payment provider, each
on its own port, wired to each other the way separate deployments are (HTTP, signed
webhooks, tokens checked against the API's JWKS).

The sandbox's secrets are made once into `<data dir>/keys/sandbox-credentials.json` and
handed to both the sandbox and the payments service: none is in code.
"""

from __future__ import annotations

import socket
from contextlib import ExitStack
from dataclasses import dataclass

from pydantic import SecretStr

from mercato.app import create_app
from mercato.orders import OrdersSettings
from mercato.payments.config import PaymentsSettings
from mercato.payments.process import create_payments_app, service_settings
from mercato.payments.schema import HISTORY
from mercato.platform.config import Settings
from mercato.platform.db import migrations
from mercato.platform.db.startup import database_url
from mercato.platform.server import Served, bind_listener, build_worker
from mercato.sandbox.app import create_sandbox_app
from mercato.sandbox.config import SandboxSettings
from mercato.sandbox.credentials import load_or_create_credentials

CREDENTIALS = "sandbox-credentials.json"


@dataclass(frozen=True, slots=True)
class Stack:
    api: Settings
    payments: Settings
    sandbox: SandboxSettings

    @property
    def urls(self) -> dict[str, str]:
        return {
            "API": f"http://{self.api.host}:{self.api.port}",
            "Payments": f"http://{self.payments.host}:{self.payments.port}",
            "Sandbox provider": self.sandbox.base_url,
        }


@dataclass(frozen=True, slots=True)
class Listeners:
    """The three ports, bound before any database work: one in use is said at once."""

    api: socket.socket
    payments: socket.socket
    sandbox: socket.socket


def bind_listeners(settings: Settings) -> Listeners:
    """Bind the API's, the payments service's and the sandbox's ports (all or none)."""
    payments = settings.section(PaymentsSettings)
    sandbox = SandboxSettings()
    with ExitStack() as bound:
        listeners = Listeners(
            api=bound.enter_context(bind_listener(settings.host, settings.port)),
            payments=bound.enter_context(
                bind_listener(
                    payments.host, payments.port, variables="PAYMENTS_HOST, PAYMENTS_PORT"
                )
            ),
            sandbox=bound.enter_context(
                bind_listener(sandbox.host, sandbox.port, variables="SANDBOX_HOST, SANDBOX_PORT")
            ),
        )
        bound.pop_all()
    return listeners


def assemble(settings: Settings) -> Stack:
    """The three services' settings, wired to each other (`settings`: the API's, with the
    database already resolved)."""
    assert settings.database.url is not None
    credentials = load_or_create_credentials(
        settings.data_dir / "keys" / "sandbox-credentials.json"
    )
    own = settings.section(PaymentsSettings)
    api_url = f"http://{settings.host}:{settings.port}"
    payments_url = f"http://{own.host}:{own.port}"
    sandbox = SandboxSettings().model_copy(
        update={
            "database_url": settings.database.url,
            "api_keys": (SecretStr(credentials.api_key),),
            "webhook_secrets": tuple(SecretStr(s) for s in credentials.webhook_secrets),
            "webhook_url": f"{payments_url}/webhooks/sandbox",
        }
    )
    wired = own.model_copy(
        update={
            "sandbox_url": sandbox.base_url,
            "sandbox_api_key": SecretStr(credentials.api_key),
            "sandbox_webhook_secrets": tuple(SecretStr(s) for s in credentials.webhook_secrets),
            "jwks_url": f"{api_url}/.well-known/jwks.json",
        }
    )
    payments = service_settings(settings.with_section(wired))
    # The API's checkout calls the payments service this stack starts (unless configured).
    orders = settings.section(OrdersSettings)
    if "payments_url" not in orders.model_fields_set:
        orders = orders.model_copy(update={"payments_url": payments_url})
    api = settings.with_section(wired).with_section(orders)
    return Stack(api=api, payments=payments, sandbox=sandbox)


def histories(stack: Stack) -> list[tuple[str, migrations.History]]:
    """Each history `mercato run` migrates, with its database URL: the API's schema, and
    the payments service's own."""
    pairs = ((stack.api, migrations.MAIN), (stack.payments, HISTORY))
    return [(database_url(settings), history) for settings, history in pairs]


def services(stack: Stack, listeners: Listeners) -> list[Served]:
    """What `serve_all` runs: each application, and each service's worker beside it."""
    return [
        Served(
            create_app(stack.api),
            stack.api.host,
            stack.api.port,
            background=lambda stop, runtime: build_worker(runtime).run(stop),
            listener=listeners.api,
        ),
        Served(
            create_payments_app(stack.payments),
            stack.payments.host,
            stack.payments.port,
            background=lambda stop, runtime: build_worker(runtime).run(stop),
            listener=listeners.payments,
        ),
        Served(
            create_sandbox_app(stack.sandbox),
            stack.sandbox.host,
            stack.sandbox.port,
            listener=listeners.sandbox,
        ),
    ]
