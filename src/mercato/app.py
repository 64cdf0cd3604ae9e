"""The API's application: the platform with every module of `mercato.modules.MODULES`."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI

from mercato.modules import MODULES
from mercato.platform.app import create_app as create_service_app
from mercato.platform.config import Settings
from mercato.platform.db.database import Database
from mercato.platform.module import Module


def create_app(
    settings: Settings, *, database: Database | None = None, modules: Sequence[Module] = MODULES
) -> FastAPI:
    """Build the API. A `database` passed in is used as is and left open at shutdown."""
    return create_service_app(
        settings,
        modules=modules,
        database=database,
        summary="Identity, catalog and orders for a commerce backend.",
    )
