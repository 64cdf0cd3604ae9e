"""The payments service's migration history (its own schema, `payments`)."""
