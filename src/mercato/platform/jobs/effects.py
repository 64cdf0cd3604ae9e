"""Effect ids: one id per outside effect, fixed when its job is deferred.

A job may run more than once: a worker killed after the job's effect but before the job is
marked done leaves it in `doing`, and recovery runs it again. A job that reaches outside
(sends a mail, calls a merchant's webhook endpoint, calls a payment provider) therefore
carries an effect id, generated when the job is deferred and written into the job's
arguments in the same transaction as the business change, and hands it to the receiver,
which deduplicates on it:

- dev mailbox: a unique `platform_dev_mailbox.effect_id`, inserted with `ON CONFLICT DO
  NOTHING`: exactly once.
- SMTP: `Message-ID: <effect id@sender domain>`: at least once, shown once by receivers
  that deduplicate by Message-ID.
- merchant webhooks: `webhook-id` (Standard Webhooks): at least once with a stable id,
  which receivers are told to deduplicate on.
- provider calls: the provider's idempotency key: exactly once where the provider honours
  the key (Stripe, the sandbox).

The id is not a secret: it may be logged and sent anywhere.
"""

from __future__ import annotations

import uuid

from mercato.platform.ids import uuid7

EFFECT_ID_ARG = "effect_id"
# Namespace of the ids derived for jobs deferred before effect ids existed.
_LEGACY_NAMESPACE = uuid.UUID("0b6f1c36-53c1-4b8e-9a54-6a3f0d1c9e27")


def new_effect_id() -> uuid.UUID:
    """A fresh effect id (time-ordered, so a receiver's dedup index stays compact)."""
    return uuid7()


def effect_id_of(given: str | None, *, job_id: int | None) -> uuid.UUID:
    """The effect id a task was given; for a job deferred without one (queued by an older
    version), an id derived from the job id, which is just as stable across its runs."""
    if given is not None:
        return uuid.UUID(given)
    if job_id is None:
        raise ValueError("a job without an effect id must at least have a job id")
    return uuid.uuid5(_LEGACY_NAMESPACE, f"procrastinate-job:{job_id}")
