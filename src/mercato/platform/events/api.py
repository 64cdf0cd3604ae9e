"""The AsyncAPI document, served beside the OpenAPI one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from mercato.platform.events.asyncapi import asyncapi_document
from mercato.platform.http.policy import PUBLIC, route_policy

router = APIRouter(tags=["operations"])


@router.get(
    "/asyncapi.json",
    summary="AsyncAPI 3.0 document of the events Mercato publishes",
    openapi_extra=route_policy(auth=PUBLIC, rate_limit="default"),
)
async def asyncapi(request: Request) -> dict[str, Any]:
    return asyncapi_document(request.app.state.event_catalog)
