"""Unit of work: one transaction per update; repositories and the FSM storage join it.

SQLite has one writer at a time. Instead of letting concurrent transactions collide and sleep in
SQLite's busy handler, the transactions of one process on one SQLite database take turns on an
asyncio lock. Nothing slow runs inside a transaction (messages are sent after the commit), so a turn
is a few milliseconds. PostgreSQL needs no such lock.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from contextvars import ContextVar
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage.repositories import Repos

current_session: ContextVar[AsyncSession | None] = ContextVar("kuaibao_current_session", default=None)
_sqlite_turns: weakref.WeakKeyDictionary[Any, asyncio.Lock] = weakref.WeakKeyDictionary()


def write_turn(sessionmaker: async_sessionmaker[AsyncSession]) -> Any:
    """The lock SQLite transactions of this database take turns on (a no-op context elsewhere)."""
    engine: AsyncEngine | None = sessionmaker.kw.get("bind")
    if engine is None or engine.dialect.name != "sqlite":
        return nullcontext()
    key = engine.sync_engine
    if key not in _sqlite_turns:
        _sqlite_turns[key] = asyncio.Lock()
    return _sqlite_turns[key]


@asynccontextmanager
async def transaction(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session in a transaction: commit on success, roll back on error."""
    async with write_turn(sessionmaker), sessionmaker() as session, session.begin():
        yield session


@asynccontextmanager
async def unit_of_work(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[Repos]:
    """Open a transaction, expose it to the FSM storage, commit on success, roll back on error."""
    async with transaction(sessionmaker) as session:
        token = current_session.set(session)
        try:
            yield Repos(session)
        finally:
            current_session.reset(token)
