"""Catalog files in and out: our own format (CSV or JSONL, one line per variant) and
Shopify's product CSV. Readers turn lines into `ProductRecord`s (or `LineError`s that
name the line and the column); writers turn records back into lines. Nothing here touches
the database: `catalog.importer` and `catalog.exporter` do."""
