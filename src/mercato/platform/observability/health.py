"""Liveness, readiness and the Prometheus scrape endpoint (for operators only:
`platform.auth.operator`)."""

from __future__ import annotations

import asyncio

import structlog
from fastapi import APIRouter, Depends
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from starlette.responses import Response

from mercato.platform.auth import operator, public
from mercato.platform.deps import DatabaseDep, RuntimeDep, SettingsDep
from mercato.platform.http.problems import problem_response

router = APIRouter(tags=["operations"])
# Probes come from the platform (load balancer, orchestrator); they are not rate limited.
OPERATIONS = [Depends(public("operations"))]
logger = structlog.get_logger(__name__)


class HealthOut(BaseModel):
    status: str
    checks: dict[str, str] = {}


@router.get(
    "/health/live",
    response_model=HealthOut,
    summary="The process is up",
    dependencies=OPERATIONS,
)
async def live() -> HealthOut:
    return HealthOut(status="ok")


@router.get(
    "/health/ready",
    response_model=HealthOut,
    summary="Dependencies answer within the readiness timeout",
    dependencies=OPERATIONS,
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
    "/metrics",
    summary="Prometheus metrics (operators only)",
    response_class=Response,
    dependencies=[Depends(operator())],
    responses={401: {"description": "MERCATO_METRICS_TOKEN is set and was not sent"}},
)
async def metrics(runtime: RuntimeDep) -> Response:
    """The database gauges are read at most every `MERCATO_METRICS_DB_REFRESH_S`: a scrape
    (or a flood of them) costs the database no more than that."""
    await runtime.event_metrics.refresh(
        runtime.database, max_age_s=runtime.settings.metrics_db_refresh_s
    )
    return Response(generate_latest(runtime.registry), media_type=CONTENT_TYPE_LATEST)
