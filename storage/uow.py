"""Unit of work: one transaction per update; repositories and the FSM storage join it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.repositories import Repos

current_session: ContextVar[AsyncSession | None] = ContextVar("kuaibao_current_session", default=None)


@asynccontextmanager
async def unit_of_work(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[Repos]:
    """Open a transaction, expose it to the FSM storage, commit on success, roll back on error."""
    async with sessionmaker() as session, session.begin():
        token = current_session.set(session)
        try:
            yield Repos(session)
        finally:
            current_session.reset(token)
