"""The policies of the catalog's routes; each alias enforces and declares one
(`mercato.platform.auth`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from mercato.catalog.services import CatalogServices
from mercato.platform.auth import Escalation, Principal, on_demand, public, require
from mercato.platform.deps import runtime_of

WRITE_CATALOG = "catalog:write"
READ_POLICY = "catalog-read"

# Public reads (cached, rate-limited per IP under their own, generous policy).
PUBLIC_READ = Depends(public(READ_POLICY))
CatalogEditor = Annotated[Principal, Depends(require(WRITE_CATALOG))]
# Public lists whose drafts and archived products only catalog editors may see.
EditorOnDemand = Annotated[Escalation, Depends(on_demand(WRITE_CATALOG, rate_limit=READ_POLICY))]


async def get_catalog(request: Request) -> CatalogServices:
    return runtime_of(request.scope).services(CatalogServices)


CatalogDep = Annotated[CatalogServices, Depends(get_catalog)]
