"""Background jobs on procrastinate (PostgreSQL), deferred inside the caller's transaction."""
