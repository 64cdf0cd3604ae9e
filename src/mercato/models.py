"""Imports every module's tables into `Base.metadata` (for Alembic and the schema-drift
test): the modules declare where their tables are."""

import importlib

from mercato.modules import MODULES
from mercato.platform.db.metadata import Base

for _module in MODULES:
    if _module.migrations is None:  # tables of the main history (payments has its own)
        for _models in _module.models:
            importlib.import_module(_models)

__all__ = ["Base"]
