"""Database access: engines, sessions, unit of work, metadata, embedded server, migrations."""
