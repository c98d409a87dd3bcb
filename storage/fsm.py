"""aiogram FSM storage on our database, so a half-filled form survives a restart.

Inside an update's unit of work the storage joins that transaction (the form's new state is
committed together with whatever the handler stored); outside it, each call is its own transaction.
In a unit of work the row is read once (with the people counter, in one statement: `preload`) and
written once: changes stay in the transaction's memory and one statement writes them just before the
commit (a session event), however many times the handler set the state and the data.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, KeyBuilder, StateType, StorageKey
from sqlalchemy import bindparam, delete, event, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from bot.domain import jsoncodec
from bot.domain.clock import utcnow
from storage.dialect import upsert_insert
from storage.models import FsmRecord, PeopleVersion
from storage.uow import current_session, transaction

Row = tuple[str | None, dict[str, Any]]


def _copy(data: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy as the column stores it (JSON): several times faster than copy.deepcopy for a draft."""
    return dict(jsoncodec.loads(jsoncodec.dumps(data)))


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
        stmt = insert(t)
        self._upsert_row = stmt.on_conflict_do_update(
            index_elements=[t.c.key],
            set_={"state": stmt.excluded.state, "data": stmt.excluded.data, "updated_at": stmt.excluded.updated_at},
        )
        self._delete = delete(t).where(t.c.key == bindparam("key"))
        v = PeopleVersion.__table__
        self._preload = (
            select(v.c.value, t.c.state, t.c.data, t.c.key)
            .select_from(v.outerjoin(t, t.c.key == bindparam("key")))
            .where(v.c.id == 1)
        )
        if not event.contains(Session, "before_commit", _write_pending):
            event.listen(Session, "before_commit", _write_pending)

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[AsyncSession]:
        session = current_session.get()
        if session is not None:
            yield session
            return
        async with transaction(self.sessionmaker) as own:
            yield own

    @staticmethod
    def _cache(session: AsyncSession) -> dict[str, Row | None]:
        """Rows read or written in this transaction: state and data are one row, read once."""
        return session.info.setdefault("fsm_rows", {})

    async def preload(self, session: AsyncSession, key: StorageKey) -> int:
        """In an update's transaction: read the sender's conversation row into it and return the people
        counter (storage.people), in one statement."""
        row_key = self.key_builder.build(key)
        version, state, data, found = (await session.execute(self._preload, {"key": row_key})).one()
        self._cache(session)[row_key] = None if found is None else (state, data)
        return int(version)

    async def _upsert(self, key: StorageKey, column: str, value: Any) -> None:
        row_key = self.key_builder.build(key)
        session = current_session.get()
        if session is None:  # on its own: written at once
            params = {"key": row_key, "bot_id": key.bot_id, "chat_id": key.chat_id, "user_id": key.user_id,
                      "state": None, "data": {}, "updated_at": utcnow(), column: value}  # fmt: skip
            async with transaction(self.sessionmaker) as own:
                await own.execute(self._upserts[column], params)
            return
        state, data = await self._row(key) or (None, {})
        self._cache(session)[row_key] = (value, data) if column == "state" else (state, value)
        pending: dict[str, tuple[SqlStorage, StorageKey]] = session.info.setdefault("fsm_pending", {})
        pending[row_key] = (self, key)

    def _write(self, session: Session, row_key: str, key: StorageKey) -> None:
        """One statement for the row as the transaction left it (sync: runs in SQLAlchemy's before_commit)."""
        state, data = session.info["fsm_rows"].get(row_key) or (None, {})
        if state is None and not data:
            session.execute(self._delete, {"key": row_key})
            return
        session.execute(self._upsert_row, {"key": row_key, "bot_id": key.bot_id, "chat_id": key.chat_id,
                                           "user_id": key.user_id, "state": state, "data": data,
                                           "updated_at": utcnow()})  # fmt: skip

    async def _read(self, s: AsyncSession, row_key: str) -> Row | None:
        row = (await s.execute(self._select, {"key": row_key})).first()
        return None if row is None else (row[0], row[1])

    async def _row(self, key: StorageKey) -> Row | None:
        row_key = self.key_builder.build(key)
        async with self._session() as s:
            cache = self._cache(s)
            if row_key not in cache:
                cache[row_key] = await self._read(s, row_key)
            return cache[row_key]

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        await self._upsert(key, "state", value)
        if value is None and current_session.get() is None:
            await self._drop_if_empty(key)

    async def get_state(self, key: StorageKey) -> str | None:
        row = await self._row(key)
        return None if row is None else row[0]

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        if not isinstance(data, dict):
            raise TypeError(f"data must be a dict, not {type(data).__name__}")
        await self._upsert(key, "data", _copy(data))
        if not data and current_session.get() is None:
            await self._drop_if_empty(key)

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        row = await self._row(key)
        return {} if row is None else _copy(dict(row[1] or {}))

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


def _write_pending(session: Session) -> None:
    """Before a commit: write the conversation rows the transaction changed (one statement each)."""
    pending = session.info.pop("fsm_pending", None)
    for row_key, (storage, key) in (pending or {}).items():
        storage._write(session, row_key, key)
