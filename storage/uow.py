"""Unit of work: one transaction with its repositories (background jobs, the CLI; an update's own
transaction is storage.hotpath's, which takes the same turns).

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
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage.repositories import Repos

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
    """Open a transaction with the repositories on it: commit on success, roll back on error."""
    async with transaction(sessionmaker) as session:
        yield Repos(session)
