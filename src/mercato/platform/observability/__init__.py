"""Structured logs, metrics and health checks."""
