"""Events: versioned contracts, the transactional outbox, relays, transports and consumers."""
