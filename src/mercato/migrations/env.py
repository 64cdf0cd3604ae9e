"""Alembic environment of the main history (every module's tables but payments')."""

from __future__ import annotations

from mercato.models import Base
from mercato.platform.db.migration_env import run

run(Base.metadata)
