"""Identity as a module: accounts, sessions, roles, the audit log; the authenticator."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

from mercato.identity.config import IdentitySettings
from mercato.platform.module import Module

if TYPE_CHECKING:
    import procrastinate
    from fastapi import APIRouter

    from mercato.platform.cli import CommandLine
    from mercato.platform.events.consumers import ConsumerRegistry
    from mercato.platform.events.contracts import EventPayload
    from mercato.platform.http.operation_docs import OperationDocs
    from mercato.platform.module import Started
    from mercato.platform.runtime import Runtime


def _routers() -> Sequence[APIRouter]:
    from mercato.identity import admin_api, api

    return (api.router, api.well_known, admin_api.router)


def _contracts() -> Sequence[type[EventPayload]]:
    from mercato.identity.events import CONTRACTS

    return CONTRACTS


def _jobs() -> procrastinate.Blueprint:
    from mercato.identity import tasks

    return tasks.blueprint()


def _consumers(runtime: Runtime) -> ConsumerRegistry:
    from mercato.identity import consumers

    return consumers.registry(runtime)


def _start(runtime: Runtime) -> AbstractAsyncContextManager[Started]:
    from mercato.identity.startup import start

    return start(runtime)


def _cli(cli: CommandLine) -> None:
    from mercato.identity.cli import register

    register(cli)


def _operations() -> OperationDocs:
    from mercato.identity import api_docs

    return api_docs.OPERATIONS


module = Module(
    name="identity",
    settings=IdentitySettings,
    models=("mercato.identity.models",),
    routers=_routers,
    start=_start,
    contracts=_contracts,
    consumers=_consumers,
    jobs=_jobs,
    cli=_cli,
    tags=(
        {
            "name": "identity",
            "description": "Register, verify, sign in, refresh and sign out; your account.",
        },
        {
            "name": "identity administration",
            "description": "Accounts, roles and the security audit log (staff).",
        },
    ),
    operations=_operations,
)
