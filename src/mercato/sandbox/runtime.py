"""What the sandbox's routes use, built in the lifespan, and the caller's authentication."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine

from mercato.platform.db.database import Database
from mercato.sandbox.background import SandboxClock
from mercato.sandbox.config import SandboxSettings
from mercato.sandbox.errors import SandboxError
from mercato.sandbox.faults import Faults
from mercato.sandbox.intents import PaymentIntents
from mercato.sandbox.refunds import Refunds


@dataclass(frozen=True, slots=True)
class SandboxRuntime:
    settings: SandboxSettings
    database: Database
    faults: Faults
    intents: PaymentIntents
    refunds: Refunds
    clock: SandboxClock

    @property
    def engine(self) -> AsyncEngine:
        return self.database.primary


async def get_runtime(request: Request) -> SandboxRuntime:
    runtime: SandboxRuntime = request.app.state.sandbox
    return runtime


async def authenticate(request: Request) -> str:
    """The API key the caller presented (`Authorization: Bearer sk_…`), if it is one of
    ours; compared in constant time with every active key."""
    runtime: SandboxRuntime = request.app.state.sandbox
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise SandboxError(
            401,
            "api_key_missing",
            "No API key provided: send `Authorization: Bearer <API key>`.",
            headers={"WWW-Authenticate": 'Bearer realm="sandbox"'},
        )
    candidate = presented.strip().encode()
    for key in runtime.settings.api_key_values():
        if hmac.compare_digest(candidate, key.encode()):
            return key
    raise SandboxError(
        401,
        "api_key_invalid",
        "Invalid API key provided.",
        headers={"WWW-Authenticate": 'Bearer realm="sandbox"'},
    )


RuntimeDep = Annotated[SandboxRuntime, Depends(get_runtime)]
ApiKeyDep = Annotated[str, Depends(authenticate)]
