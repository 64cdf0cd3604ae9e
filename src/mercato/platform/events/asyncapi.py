"""An AsyncAPI 3.0 document generated from the event catalog."""

from __future__ import annotations

from typing import Any

from mercato import __version__
from mercato.platform.events.contracts import Envelope, EventCatalog, EventPayload
from mercato.platform.events.transports import nats_subject


def _message_key(contract: type[EventPayload]) -> str:
    return f"{contract.name.replace('.', '_')}_v{contract.version}"


def asyncapi_document(catalog: EventCatalog) -> dict[str, Any]:
    """Channels are NATS subjects (one per event name); each message is the envelope with
    the contract's payload schema. The PostgreSQL transport carries the same envelopes."""
    envelope = Envelope.model_json_schema()
    envelope_properties = {
        key: value for key, value in envelope["properties"].items() if key != "payload"
    }
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for contract in catalog:
        key = _message_key(contract)
        channel_key = contract.name.replace(".", "_")
        payload_schema = contract.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in payload_schema.pop("$defs", {}).items():
            schemas[name] = definition
        schemas[key] = payload_schema
        messages[key] = {
            "name": contract.name,
            "title": f"{contract.name} v{contract.version}",
            "summary": (contract.__doc__ or "").strip().splitlines()[0]
            if contract.__doc__
            else contract.name,
            "contentType": "application/json",
            "payload": {
                "type": "object",
                "required": [
                    "id",
                    "name",
                    "version",
                    "occurred_at",
                    "aggregate_type",
                    "aggregate_id",
                    "payload",
                ],
                "properties": {
                    **envelope_properties,
                    "name": {"const": contract.name},
                    "version": {"const": contract.version},
                    "aggregate_type": {"const": contract.aggregate_type},
                    "payload": {"$ref": f"#/components/schemas/{key}"},
                },
            },
        }
        channel = channels.setdefault(
            channel_key,
            {
                "address": nats_subject(contract.name, "{partition}"),
                "parameters": {
                    "partition": {
                        "description": "Ordered lane: crc32(aggregate_type:aggregate_id)"
                        " modulo EVENTS_NATS_PARTITIONS"
                    }
                },
                "messages": {},
            },
        )
        channel["messages"][key] = {"$ref": f"#/components/messages/{key}"}
        operations[f"publish_{channel_key}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel_key}"},
            "messages": [{"$ref": f"#/channels/{channel_key}/messages/{key}"}],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Mercato events",
            "version": __version__,
            "description": (
                "Events published through the transactional outbox. Delivery is at least "
                "once; consumers deduplicate by envelope id."
            ),
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }
