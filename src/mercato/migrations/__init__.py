"""Alembic migrations of the Mercato monolith's schema (files named YYYY-MM-DD_slug.py)."""
