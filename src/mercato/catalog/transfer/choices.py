"""The choices of `catalog import` and `export` (imported by the command line at start:
nothing heavy here)."""

from __future__ import annotations

from enum import StrEnum


class FileFormat(StrEnum):
    MERCATO = "mercato"  # our CSV or JSONL, one line per variant
    SHOPIFY = "shopify"  # Shopify's product CSV


class ImportMode(StrEnum):
    CREATE = "create"  # new handles only
    UPDATE = "update"  # existing handles only
    UPSERT = "upsert"  # either
