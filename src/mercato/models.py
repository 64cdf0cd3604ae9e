"""Imports every table into `Base.metadata` (for Alembic and the schema-drift test)."""

from mercato.identity import models as identity_models
from mercato.platform import mail
from mercato.platform.db.metadata import Base
from mercato.platform.events import models as events_models

__all__ = ["Base", "events_models", "identity_models", "mail"]
