"""The shared kernel: configuration, database, HTTP platform and observability."""
