"""The HTTP platform: problem+json errors, middleware, health and metrics routes."""
