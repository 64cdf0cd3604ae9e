"""The orders' event contracts are in the AsyncAPI document of the running modules, and that
document is valid AsyncAPI 3.0 (the schema the events suite validates against)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from mercato.modules import MODULES
from mercato.platform.events.asyncapi import asyncapi_document
from mercato.platform.runtime import event_catalog

SCHEMA = Path(__file__).parents[2] / "fixtures" / "asyncapi-3.0.0.schema.json"
ORDER_EVENTS = {"placed", "paid", "canceled", "fulfilled", "refunded"}


def test_every_order_event_is_a_versioned_channel_of_a_valid_document() -> None:
    document = asyncapi_document(event_catalog(MODULES))
    validator = jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))
    assert [error.message for error in validator.iter_errors(document)] == []
    for happened in ORDER_EVENTS:
        channel = document["channels"][f"orders_order_{happened}"]
        assert channel["address"] == f"mercato.orders.{{partition}}.order.{happened}"
        assert f"orders_order_{happened}_v1" in document["components"]["schemas"]
