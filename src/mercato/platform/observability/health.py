"""Liveness, readiness and the Prometheus scrape endpoint."""

from __future__ import annotations

import asyncio

import structlog
from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel
from starlette.responses import Response

from mercato.platform.deps import DatabaseDep, SettingsDep
from mercato.platform.http.policy import PUBLIC, route_policy
from mercato.platform.http.problems import problem_response

router = APIRouter(tags=["operations"])
# Probes and scrapes come from the platform (load balancer, Prometheus) on the private
# network; they are not rate limited.
OPERATIONS = route_policy(auth=PUBLIC, rate_limit="operations")
logger = structlog.get_logger(__name__)


class HealthOut(BaseModel):
    status: str
    checks: dict[str, str] = {}


@router.get(
    "/health/live",
    response_model=HealthOut,
    summary="The process is up",
    openapi_extra=OPERATIONS,
)
async def live() -> HealthOut:
    return HealthOut(status="ok")


@router.get(
    "/health/ready",
    response_model=HealthOut,
    summary="Dependencies answer within the readiness timeout",
    openapi_extra=OPERATIONS,
    responses={503: {"description": "A dependency is down (problem+json)"}},
)
async def ready(database: DatabaseDep, settings: SettingsDep) -> HealthOut | Response:
    try:
        await asyncio.wait_for(database.ping(), timeout=settings.readiness_timeout_s)
    except Exception as error:  # noqa: BLE001 - any failure means "not ready"
        logger.warning("readiness_failed", dependency="database", error=type(error).__name__)
        return problem_response(
            503,
            slug="not-ready",
            title="Not ready",
            detail="The database did not answer within the readiness timeout.",
            instance="/health/ready",
            checks={"database": "unavailable"},
            headers={"Retry-After": "5"},
        )
    return HealthOut(status="ok", checks={"database": "ok"})


@router.get(
    "/metrics", summary="Prometheus metrics", response_class=Response, openapi_extra=OPERATIONS
)
async def metrics(request: Request, database: DatabaseDep) -> Response:
    await request.app.state.event_metrics.refresh(database)
    registry: CollectorRegistry = request.app.state.metrics_registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
