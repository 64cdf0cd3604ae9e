"""The API's objects (payment intent, refund, payment method) as JSON, built from rows.

Field names and shapes follow docs/sandbox.md; timestamps are unix seconds, amounts
integers of minor units.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from sqlalchemy import RowMapping


def new_id(prefix: str) -> str:
    """`pi_…`, `re_…`, `pm_…`, `evt_…`: unguessable, so an id is no capability leak."""
    return f"{prefix}_{secrets.token_hex(12)}"


def unix(moment: dt.datetime) -> int:
    return int(moment.timestamp())


def action_url(base_url: str, token: str) -> str:
    return f"{base_url}/v1/actions/{token}"


def intent_json(row: RowMapping, *, base_url: str) -> dict[str, Any]:
    token = row["action_token"]
    next_action = (
        {"type": "redirect_to_url", "redirect_url": action_url(base_url, token)}
        if row["status"] == "requires_action" and token is not None
        else None
    )
    return {
        "id": row["id"],
        "object": "payment_intent",
        "amount": row["amount"],
        "currency": row["currency"],
        "reference": row["reference"],
        "status": row["status"],
        "capture_method": row["capture_method"],
        "amount_capturable": row["amount_capturable"],
        "amount_received": row["amount_received"],
        "amount_refunded": row["amount_refunded"],
        "payment_method": row["payment_method"],
        "last_payment_error": row["last_payment_error"],
        "next_action": next_action,
        "metadata": row["metadata"],
        "created": unix(row["created_at"]),
    }


def refund_json(row: RowMapping) -> dict[str, Any]:
    return {
        "id": row["id"],
        "object": "refund",
        "payment_intent": row["payment_intent"],
        "amount": row["amount"],
        "currency": row["currency"],
        "status": row["status"],
        "created": unix(row["created_at"]),
    }


def payment_method_json(row: RowMapping) -> dict[str, Any]:
    return {
        "id": row["id"],
        "object": "payment_method",
        "type": "card",
        "card": {
            "brand": row["brand"],
            "last4": row["last4"],
            "exp_month": row["exp_month"],
            "exp_year": row["exp_year"],
        },
        "created": unix(row["created_at"]),
    }
