"""aiogram FSM storage on our database, so a half-filled form survives a restart: outside an update, each call its
own transaction (an update's handler gets storage.update.UpdateFsm instead, in the update's transaction)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, KeyBuilder, StateType, StorageKey
from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.domain import jsoncodec
from bot.domain.clock import utcnow
from storage.dialect import upsert_insert
from storage.models import FsmRecord
from storage.uow import transaction
from storage.update.port import Row


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

    async def _upsert(self, key: StorageKey, column: str, value: Any) -> None:
        params = {
            "key": self.key_builder.build(key),
            "bot_id": key.bot_id,
            "chat_id": key.chat_id,
            "user_id": key.user_id,
            "state": None,
            "data": {},
            "updated_at": utcnow(),
            column: value,
        }
        async with transaction(self.sessionmaker) as own:
            await own.execute(self._upserts[column], params)

    async def _read(self, s: AsyncSession, row_key: str) -> Row | None:
        row = (await s.execute(self._select, {"key": row_key})).first()
        return None if row is None else (row[0], row[1])

    async def _row(self, key: StorageKey) -> Row | None:
        async with transaction(self.sessionmaker) as s:
            return await self._read(s, self.key_builder.build(key))

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
        await self._upsert(key, "data", jsoncodec.copy(data))
        if not data:
            await self._drop_if_empty(key)

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        row = await self._row(key)
        return {} if row is None else jsoncodec.copy(row[1] or {})

    async def _drop_if_empty(self, key: StorageKey) -> None:
        """Outside an update: delete the row once it holds neither a state nor data (a cleared conversation)."""
        async with transaction(self.sessionmaker) as s:
            row = await self._read(s, self.key_builder.build(key))
            if row is not None and row[0] is None and not row[1]:
                await s.execute(self._delete, {"key": self.key_builder.build(key)})

    async def close(self) -> None:
        return None
