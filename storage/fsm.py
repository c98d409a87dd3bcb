"""aiogram FSM storage on our database, so a half-filled form survives a restart.

Inside an update's unit of work the storage joins that transaction (the form's new state is
committed together with whatever the handler stored); outside it, each call is its own transaction.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, KeyBuilder, StateType, StorageKey
from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.domain.clock import utcnow
from storage.dialect import upsert_insert
from storage.models import FsmRecord
from storage.uow import current_session, transaction


class SqlStorage(BaseStorage):
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], key_builder: KeyBuilder | None = None) -> None:
        self.sessionmaker = sessionmaker
        self.key_builder = key_builder or DefaultKeyBuilder(with_bot_id=True, with_destiny=True)
        bind = sessionmaker.kw.get("bind")
        insert = upsert_insert(bind)
        # Statements built once with bound parameters: compiled once, cached by SQLAlchemy.
        t = FsmRecord.__table__
        self._select = select(t.c.state, t.c.data).where(t.c.key == bindparam("key"))
        self._upserts = {}
        for column in ("state", "data"):
            stmt = insert(t)
            self._upserts[column] = stmt.on_conflict_do_update(
                index_elements=[t.c.key],
                set_={column: stmt.excluded[column], "updated_at": stmt.excluded.updated_at},
            )
        self._delete = delete(t).where(t.c.key == bindparam("key"))

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[AsyncSession]:
        session = current_session.get()
        if session is not None:
            yield session
            return
        async with transaction(self.sessionmaker) as own:
            yield own

    @staticmethod
    def _cache(session: AsyncSession) -> dict[str, tuple[str | None, dict[str, Any]] | None]:
        """Rows read or written in this transaction: state and data are one row, read once."""
        return session.info.setdefault("fsm_rows", {})

    async def _upsert(self, key: StorageKey, column: str, value: Any) -> None:
        row_key = self.key_builder.build(key)
        params = {"key": row_key, "bot_id": key.bot_id, "chat_id": key.chat_id, "user_id": key.user_id,
                  "state": None, "data": {}, "updated_at": utcnow(), column: value}  # fmt: skip
        async with self._session() as s:
            await s.execute(self._upserts[column], params)
            cache = self._cache(s)
            if row_key in cache:  # keep the cached row in step; otherwise the next read fetches it
                state, data = cache[row_key] or (None, {})
                cache[row_key] = (value, data) if column == "state" else (state, value)

    async def _read(self, s: AsyncSession, row_key: str) -> tuple[str | None, dict[str, Any]] | None:
        row = (await s.execute(self._select, {"key": row_key})).first()
        return None if row is None else (row[0], row[1])

    async def _row(self, key: StorageKey) -> tuple[str | None, dict[str, Any]] | None:
        row_key = self.key_builder.build(key)
        async with self._session() as s:
            cache = self._cache(s)
            if row_key not in cache:
                cache[row_key] = await self._read(s, row_key)
            return cache[row_key]

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        await self._upsert(key, "state", value)
        if value is None:
            await self._drop_if_empty(key)

    async def get_state(self, key: StorageKey) -> str | None:
        row = await self._row(key)
        return None if row is None else row[0]

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        if not isinstance(data, dict):
            raise TypeError(f"data must be a dict, not {type(data).__name__}")
        await self._upsert(key, "data", copy.deepcopy(data))
        if not data:
            await self._drop_if_empty(key)

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        row = await self._row(key)
        return {} if row is None else copy.deepcopy(dict(row[1] or {}))

    async def _drop_if_empty(self, key: StorageKey) -> None:
        """Delete the row once it holds neither a state nor data (a cleared conversation)."""
        row = await self._row(key)
        if row is not None and row[0] is None and not row[1]:
            row_key = self.key_builder.build(key)
            async with self._session() as s:
                await s.execute(self._delete, {"key": row_key})
                self._cache(s)[row_key] = None

    async def close(self) -> None:
        return None
