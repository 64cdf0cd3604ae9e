"""The payments benchmark's processes on 127.0.0.1: the sandbox, the payments API and its
worker (`mercato sandbox serve`, `mercato payments serve|worker`), on one scratch database
(schemas `payments` and `sandbox`), and the API's JWKS they check tokens against."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench.support import Server
from mercato.platform.security.jwt import AccessTokens, KeyRing

ISSUER = "mercato"


@contextmanager
def jwks_server(ring: KeyRing) -> Iterator[str]:
    """The API's public keys, as the payments service fetches them (a stdlib server in a
    thread: the bench's 'API')."""
    body = json.dumps(ring.jwks()).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Stack:
    sandbox: Server
    service: Server
    worker: Server
    api_key: str
    webhook_secret: str
    tokens: AccessTokens

    @property
    def processes(self) -> dict[str, int]:
        return {
            "payments API": self.service.pid,
            "payments worker": self.worker.pid,
            "sandbox": self.sandbox.pid,
        }

    def service_token(self) -> str:
        return self.tokens.issue_service_token(
            service="bench",
            audience="payments",
            scopes=("payments:write", "payments:read"),
            ttl=dt.timedelta(minutes=10),
        )


@contextmanager
def payments_stack(database_url: str, workdir: Path) -> Iterator[Stack]:
    api_key = "sk_sandbox_" + secrets.token_urlsafe(24)
    webhook_secret = "whsec_" + secrets.token_urlsafe(32)
    ring = KeyRing.load_or_create(workdir / "jwt-keys.json")
    tokens = AccessTokens(ring, issuer=ISSUER, audience="mercato-api", ttl=dt.timedelta(minutes=5))
    # Production log level (INFO, JSON lines to /dev/null); no access log (the method).
    common = {"MERCATO_ENV": "development", "LOG_JSON": "true"}
    with jwks_server(ring) as jwks_url:
        sandbox = Server(
            database_url,
            workdir,
            command=("-m", "mercato", "sandbox", "serve", "--port", "{port}"),
            extra_env={
                **common,
                "SANDBOX_DATABASE_URL": database_url,
                "SANDBOX_API_KEYS": api_key,
                "SANDBOX_WEBHOOK_SECRETS": webhook_secret,
                "SANDBOX_CREDENTIALS_FILE": str(workdir / "sandbox-credentials.json"),
            },
        )
        service_env = {
            **common,
            "PAYMENTS_DATABASE_URL": database_url,
            "PAYMENTS_SANDBOX_URL": sandbox.base,
            "PAYMENTS_SANDBOX_API_KEY": api_key,
            "PAYMENTS_SANDBOX_WEBHOOK_SECRETS": webhook_secret,
            "PAYMENTS_JWKS_URL": jwks_url,
            "PAYMENTS_JWT_ISSUER": ISSUER,
        }
        service = Server(
            database_url,
            workdir,
            command=("-m", "mercato", "payments", "serve", "--port", "{port}"),
            extra_env=service_env,
        )
        worker = Server(
            database_url,
            workdir,
            command=("-m", "mercato", "payments", "worker"),
            extra_env=service_env,
        )
        try:
            sandbox.wait_ready()
            service.wait_ready()
            yield Stack(
                sandbox=sandbox,
                service=service,
                worker=worker,
                api_key=api_key,
                webhook_secret=webhook_secret,
                tokens=tokens,
            )
        finally:
            for process in (worker, service, sandbox):
                process.stop()


# --- payment flows (wrk) --------------------------------------------------------------

# Each wrk thread has one connection and walks create → confirm → capture with the id the
# create answered; a failed step starts a new flow. Keys and references are unique per run,
# thread and flow. `done` prints the completed flows for the report.
