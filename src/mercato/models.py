"""Imports every table into `Base.metadata` (for Alembic and the schema-drift test)."""

from mercato.catalog import models as catalog_models
from mercato.identity import models as identity_models
from mercato.platform import idempotency, mail
from mercato.platform.db.metadata import Base
from mercato.platform.events import models as events_models

__all__ = ["Base", "catalog_models", "events_models", "idempotency", "identity_models", "mail"]
