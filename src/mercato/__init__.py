"""Mercato: a production-grade commerce backend."""

__version__ = "0.1.0"
