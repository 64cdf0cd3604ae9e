"""Identity's own consumer: the session-check cache retired by events, not only by the
writing process's commit listener.

A revocation's commit listener bumps the user's generation in Redis at once, in the
process that committed it. If that bump fails (Redis hung at that moment) the process
fails closed on its own (`principal_cache`), but it could die before Redis comes back, and
processes that did not see Redis fail would not know. Every such commit also publishes
`RightsChanged` in the same transaction; this group bumps the generation again, retried
until Redis takes it.
"""

from __future__ import annotations

from mercato.identity.events import RightsChanged
from mercato.identity.principal_cache import TTL_S
from mercato.identity.services import IdentityServices
from mercato.platform.events.consumers import ConsumerRegistry, HandlerContext, RetryPolicy
from mercato.platform.runtime import Runtime

GROUP = "identity-sessions"
# Retried for longer than an entry lives (0.5 + 1 + 2 + 5 + 10 + 20 + 30 s > TTL_S): after
# that, Redis has expired every entry the lost bump was meant to retire.
RETRY = RetryPolicy(max_attempts=8, backoff_s=(0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0))
assert sum(RETRY.backoff_s) > TTL_S


def registry(runtime: Runtime) -> ConsumerRegistry:
    """The group; a bump that fails raises, so that the event is retried. (Without Redis
    nothing is cached, and the handler has nothing to do.)"""
    principals = runtime.services(IdentityServices).principals
    consumers = ConsumerRegistry()

    @consumers.consumer(RightsChanged, group=GROUP, retry=RETRY)
    async def rights_changed(event: RightsChanged, context: HandlerContext) -> None:
        await principals.bump([event.user_id])

    return consumers
