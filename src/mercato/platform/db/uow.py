"""The unit of work: one use case, one transaction, one commit.

Repositories hang off the unit of work and never commit; the use case calls `commit()`
exactly once. Leaving the `async with` block without committing rolls everything back, so
an exception half-way through a use case leaves no partial write behind.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession

from mercato.platform.db.database import Database


class UnitOfWorkError(RuntimeError):
    """The unit of work was used out of order (a programming error, not a user error)."""


class UnitOfWork:
    """A transaction boundary over one `AsyncSession` of the primary database."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._session: AsyncSession | None = None
        self._committed = False

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise UnitOfWorkError("the unit of work is used outside `async with`")
        return self._session

    async def __aenter__(self) -> Self:
        if self._session is not None:
            raise UnitOfWorkError("a unit of work cannot be entered twice")
        self._session = self._database.session()
        self._committed = False
        await self._session.begin()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        session = self.session
        try:
            if not self._committed:
                await session.rollback()
        finally:
            await session.close()
            self._session = None

    async def commit(self) -> None:
        """Commit the use case's transaction; allowed once per `async with`."""
        if self._committed:
            raise UnitOfWorkError("a unit of work commits exactly once")
        await self.session.commit()
        self._committed = True

    async def rollback(self) -> None:
        await self.session.rollback()
