"""The platform's operations (health, metrics, AsyncAPI) in the OpenAPI document.

Keyed by operationId; the rest is derived from the routes by `platform.http.openapi`.
"""

from __future__ import annotations

from mercato.platform.http.operation_docs import OperationDoc, OperationDocs

OPERATIONS: OperationDocs = {
    "operations-live": OperationDoc(response={"status": "ok", "checks": {}}),
    "operations-ready": OperationDoc(
        response={"status": "ok", "checks": {"database": "ok"}},
        errors={503: "The database did not answer within MERCATO_READINESS_TIMEOUT_S."},
    ),
    "operations-metrics": OperationDoc(
        description="The Prometheus text format: requests by route template, the pool, the "
        "outbox lag and the job queue.",
    ),
    "operations-asyncapi": OperationDoc(
        response={
            "asyncapi": "3.0.0",
            "info": {"title": "Mercato events", "version": "0.1.0"},
            "channels": {},
            "operations": {},
            "components": {"messages": {}, "schemas": {}},
        },
    ),
}
