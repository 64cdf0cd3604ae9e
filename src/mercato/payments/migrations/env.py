"""Alembic environment of the payments service's history (schema `payments`)."""

from __future__ import annotations

from mercato.payments.schema import service_metadata
from mercato.platform.db.migration_env import run

run(service_metadata())
