"""Request and response bodies of the merchant webhooks API (never ORM objects).

No answer carries an endpoint's secret except `EndpointCreatedOut` and `SecretRotatedOut`,
the answers that made it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mercato.payments.events import CONTRACTS
from mercato.payments.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from mercato.payments.states import DeliveryStatus
from mercato.payments.webhook_repository import ANY_EVENT
from mercato.platform.validation import INT32_MAX, SafeLine

EVENT_TYPES = frozenset(contract.name for contract in CONTRACTS)
TargetUrl = Annotated[
    SafeLine, Field(min_length=1, max_length=2048, examples=["https://shop.example/hooks"])
]
Description = Annotated[SafeLine, Field(max_length=500)]
EventType = Annotated[SafeLine, Field(max_length=100, examples=["payments.intent.succeeded"])]
EventTypes = Annotated[list[EventType], Field(min_length=1, max_length=len(EVENT_TYPES) + 1)]
Version = Annotated[int, Field(ge=1, le=INT32_MAX)]


def _known_event_types(values: list[str]) -> list[str]:
    unknown = sorted(set(values) - EVENT_TYPES - {ANY_EVENT})
    if unknown:
        raise ValueError(f"unknown event types {unknown}; use '*' or any of {sorted(EVENT_TYPES)}")
    return sorted(set(values))


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EndpointIn(_Input):
    """A merchant's receiver: where to send which events (`*`: all of them)."""

    url: TargetUrl
    event_types: EventTypes
    description: Description | None = None

    @field_validator("event_types")
    @classmethod
    def _event_types(cls, values: list[str]) -> list[str]:
        return _known_event_types(values)


class EndpointPatchIn(_Input):
    """Fields to change; `enabled: true` re-enables a disabled endpoint (its parked
    deliveries wait for a replay). Needs If-Match (412) or `version` (409)."""

    url: TargetUrl | None = None
    event_types: EventTypes | None = None
    description: Description | None = None
    enabled: bool | None = None
    version: Version | None = None

    @field_validator("event_types")
    @classmethod
    def _event_types(cls, values: list[str] | None) -> list[str] | None:
        return None if values is None else _known_event_types(values)


class EndpointListParams(_Input):
    enabled: bool | None = None
    limit: int = Field(default=50, ge=1, le=100)
    cursor: SafeLine | None = Field(default=None, max_length=1024)


class DeliveryListParams(_Input):
    status: DeliveryStatus | None = None
    limit: int = Field(default=50, ge=1, le=100)
    cursor: SafeLine | None = Field(default=None, max_length=1024)


class AttemptListParams(_Input):
    limit: int = Field(default=100, ge=1, le=100)
    cursor: SafeLine | None = Field(default=None, max_length=1024)


class EndpointOut(BaseModel):
    id: uuid.UUID
    url: str
    description: str | None
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None
    disabled_at: dt.datetime | None
    # While set and in the future, the previous secret still signs (after a rotation).
    previous_secret_expires_at: dt.datetime | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, endpoint: WebhookEndpoint) -> EndpointOut:
        return cls(
            id=endpoint.id,
            url=endpoint.url,
            description=endpoint.description,
            event_types=list(endpoint.event_types),
            enabled=endpoint.enabled,
            disabled_reason=endpoint.disabled_reason,
            disabled_at=endpoint.disabled_at,
            previous_secret_expires_at=endpoint.previous_secret_expires_at,
            version=endpoint.version,
            created_at=endpoint.created_at,
            updated_at=endpoint.updated_at,
        )


class EndpointCreatedOut(EndpointOut):
    secret: str | None = Field(
        description="The signing secret (`whsec_…`), shown in this answer only; an"
        " idempotent replay of the creation answers null (rotate to get a new one)."
    )


class SecretRotatedOut(BaseModel):
    id: uuid.UUID
    secret: str | None = Field(
        description="The new signing secret, shown in this answer only; an idempotent replay"
        " of the rotation answers null (rotate again, with a new key, to get one)."
    )
    previous_secret_expires_at: dt.datetime | None
    version: int


class DeliveryOut(BaseModel):
    id: uuid.UUID = Field(description="The `webhook-id` header of every attempt")
    endpoint_id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    status: Literal["pending", "delivered", "failed", "abandoned"]
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: dt.datetime | None
    created_at: dt.datetime
    delivered_at: dt.datetime | None

    @classmethod
    def of(cls, delivery: WebhookDelivery) -> DeliveryOut:
        return cls.model_validate(
            {
                "id": delivery.id,
                "endpoint_id": delivery.endpoint_id,
                "event_id": delivery.event_id,
                "event_type": delivery.event_type,
                "status": delivery.status,
                "attempts": delivery.attempts,
                "last_status_code": delivery.last_status_code,
                "last_error": delivery.last_error,
                "next_attempt_at": delivery.next_attempt_at,
                "created_at": delivery.created_at,
                "delivered_at": delivery.delivered_at,
            }
        )


class AttemptOut(BaseModel):
    number: int
    trigger: Literal["scheduled", "replay"]
    started_at: dt.datetime
    duration_ms: int
    status_code: int | None
    error: str | None
    response_excerpt: str | None

    @classmethod
    def of(cls, attempt: WebhookAttempt) -> AttemptOut:
        return cls.model_validate(
            {
                "number": attempt.number,
                "trigger": attempt.trigger,
                "started_at": attempt.started_at,
                "duration_ms": attempt.duration_ms,
                "status_code": attempt.status_code,
                "error": attempt.error,
                "response_excerpt": attempt.response_excerpt,
            }
        )
