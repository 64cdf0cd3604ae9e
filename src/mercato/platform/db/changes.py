"""What a transaction changed, noted by repositories for the commit listeners.

Some effects must follow a commit in this very process, at once: dropping the cached
session check of a user whose rights changed, retiring cached catalog reads. Repositories
note such changes under a typed topic while they write; after the unit of work commits,
each listener reads the topics it knows. (Effects on other processes are events in the
outbox, not notes.)

    RIGHTS_CHANGED: Topic[uuid.UUID] = Topic("identity.rights")
    changes_of(session).note(RIGHTS_CHANGED, user_id)      # in a repository
    for user_id in changes.of(RIGHTS_CHANGED): ...          # in a commit listener
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")
_SESSION_KEY = "mercato.changes"


class Topic(Generic[T]):
    """A kind of change, and the type of what is noted under it."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Topic({self.name!r})"


class Changes:
    """The notes of one transaction, by topic."""

    def __init__(self) -> None:
        self._notes: dict[Topic[Any], set[Any]] = {}

    def note(self, topic: Topic[T], item: T) -> None:
        self._notes.setdefault(topic, set()).add(item)

    def of(self, topic: Topic[T]) -> frozenset[T]:
        return frozenset(self._notes.get(topic, ()))

    def __contains__(self, topic: object) -> bool:
        return topic in self._notes


def changes_of(session: AsyncSession) -> Changes:
    """The notes of the transaction `session` is in (made on first use)."""
    changes = session.info.get(_SESSION_KEY)
    if changes is None:
        changes = session.info[_SESSION_KEY] = Changes()
    assert isinstance(changes, Changes)
    return changes
