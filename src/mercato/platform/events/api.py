"""The AsyncAPI document, served beside the OpenAPI one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from mercato.platform.auth import public
from mercato.platform.deps import RuntimeDep
from mercato.platform.events.asyncapi import asyncapi_document

router = APIRouter(tags=["operations"])


@router.get(
    "/asyncapi.json",
    summary="AsyncAPI 3.0 document of the events Mercato publishes",
    dependencies=[Depends(public())],
)
async def asyncapi(runtime: RuntimeDep) -> dict[str, Any]:
    return asyncapi_document(runtime.event_catalog)
