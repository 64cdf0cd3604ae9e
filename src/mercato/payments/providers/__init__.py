"""Payment providers behind one protocol (`base.PaymentProvider`): adapters stay thin, the
gateway facade owns timeouts, retries, idempotency keys and the circuit breaker."""
