"""An update's transaction: one typed interface (UpdateTx) over one module of statements per database.

Every update runs the same few statements: take it in the inbox, read the sender's conversation row with the people
counter, write that row back, store the answers in the outbox, commit. Through SQLAlchemy each costs 60 to 100 µs of
Python (session, statement cache lookup, result objects, a greenlet switch) around a statement SQLite runs in under
10 µs; together that was a third of the bot's CPU per update. Here they are fixed SQL text run on the pooled
connection's driver (storage.update.sqlite: sqlite3; storage.update.postgres: asyncpg) inside the same transaction,
and the ORM session is opened only when a handler needs one (the first `tx.session`), bound to the same connection,
so whatever it does commits or rolls back with the rest.

On PostgreSQL every statement is a round trip: there the update is taken in the inbox with its last writes, in one
statement that also writes the conversation rows and the outbox (atomic on its own when the handler used no ORM
session: no BEGIN, no COMMIT); another process that took it meanwhile makes this one roll back (HandledElsewhere).

The transaction is passed explicitly: `update_transaction(…)` gives an UpdateTx; `tx.begin(update_id, row_key)` is its
first read; `tx.fsm(key_builder)` is aiogram's FSM storage for the update (reads and writes stay in the transaction and
are written once, just before the commit); `tx.session` the ORM session; `tx.store_outbox` what is sent after it.

Values are stored exactly as the ORM stores them (tests/storage/test_update.py reads them back through the ORM on
both databases): times as SQLAlchemy's SQLite DATETIME text (naive UTC) or timestamptz, JSON as text (SQLite) or jsonb
through SQLAlchemy's own asyncpg codec.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, KeyBuilder, StateType, StorageKey
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from bot.domain import jsoncodec
from bot.domain.clock import utcnow
from storage.uow import write_turn
from storage.update.port import Begun, Row, RowWrite, Statements, Take
from storage.update.postgres import PostgresStatements
from storage.update.sqlite import SQLiteStatements

if TYPE_CHECKING:
    from storage.inbox import Inbox

__all__ = ["Begun", "HandledElsewhere", "HeldConnection", "UpdateFsm", "UpdateTx", "update_transaction"]


class HandledElsewhere(Exception):
    """PostgreSQL: another process took the update first (its effects are committed); this one's roll back."""


class UpdateTx:
    """One update's transaction: the hot-path statements (`sql`), the ORM session on demand (`session`),
    and what the update noted for after its commit (`info`: the nearest timer, a warning published)."""

    def __init__(
        self,
        conn: AsyncConnection,
        sql: Statements,
        sessionmaker: async_sessionmaker[AsyncSession],
        inbox: Inbox | None = None,
    ) -> None:
        self.conn = conn
        self.sql = sql
        self._sessionmaker = sessionmaker
        self._inbox = inbox
        self._session: AsyncSession | None = None
        self._late_take: Take | None = None  # PostgreSQL takes the update with the last writes
        self.rows: dict[str, Row | None] = {}  # conversation rows read or written in this transaction
        self.pending: dict[str, tuple[int, int, int]] = {}  # rows to write before the commit: key -> ids
        self._outbox: list[str] = []  # messages to store with the last writes (storage.outbox.save_in)
        self._outbox_ids: list[int] = []
        self._on_outbox: Callable[[list[int]], object] | None = None
        self._outbox_until: datetime | None = None

    async def begin(self, update_id: int | None, row_key: str | None) -> Begun:
        """The update's first read, before anything else of it: taken in the inbox (when it came through one),
        the people counter and the sender's conversation row (`row_key`), in one round trip."""
        recorded = False
        if self._inbox is not None and update_id is not None:
            recorded = update_id in self._inbox.recorded
            self._inbox.recorded.discard(update_id)
        bot_id = self._inbox.bot_id if self._inbox is not None and update_id is not None else None
        now = utcnow()
        begun = await self.sql.begin(bot_id, update_id, now, row_key, recorded)
        if row_key is not None:
            self.rows[row_key] = begun.row
        if begun.taken and self.sql.late_take and bot_id is not None and update_id is not None:
            self._late_take = (bot_id, update_id, now)
        return begun

    def fsm(self, key_builder: KeyBuilder) -> UpdateFsm:
        """aiogram's FSM storage for this update: it reads and writes the conversation rows of this transaction."""
        return UpdateFsm(self, key_builder)

    async def row(self, row_key: str) -> Row | None:
        """A conversation row as this transaction sees it (read once, then kept)."""
        if row_key not in self.rows:
            _version, self.rows[row_key] = await self.sql.preload(row_key)
        return self.rows[row_key]

    def write_row(self, key: StorageKey, row_key: str, row: Row) -> None:
        """Change a conversation row: written once, with the transaction's last writes."""
        self.rows[row_key] = row
        self.pending[row_key] = (key.bot_id, key.chat_id, key.user_id)

    @property
    def session(self) -> AsyncSession:
        """The ORM session of this transaction (opened at the first use, on the same connection)."""
        if self._session is None:
            self._session = self._sessionmaker(bind=self.conn, join_transaction_mode="rollback_only")
        return self._session

    @property
    def info(self) -> dict[str, Any]:
        return self._session.info if self._session is not None else {}

    def store_outbox(
        self, payloads: Sequence[str], on_stored: Callable[[list[int]], object], until: datetime | None = None
    ) -> list[int]:
        """Messages to store with the transaction's last writes, just before the commit, held by this process
        until `until` (the retry job of any process leaves them alone till then). Returns the list their ids go
        into then; `on_stored` gets them before the commit (once stored, nobody else may take them)."""
        self._outbox.extend(payloads)
        self._on_outbox = on_stored
        self._outbox_until = until
        return self._outbox_ids

    async def _finish(self, now: datetime) -> None:
        if self._session is not None:
            await self._session.flush()
        if self.pending or self._outbox or self._late_take:
            rows: list[RowWrite] = []
            for row_key, (bot_id, chat_id, user_id) in self.pending.items():
                state, data = self.rows.get(row_key) or (None, {})
                rows.append((row_key, bot_id, chat_id, user_id, state, data))
            self.pending.clear()
            taken, ids = await self.sql.finish(rows, self._outbox, now, self._late_take, self._outbox_until)
            if not taken:
                raise HandledElsewhere(f"update {self._late_take} was handled meanwhile")
            self._outbox.clear()
            self._outbox_ids.extend(ids)
            if self._on_outbox is not None:
                self._on_outbox(ids)
        await self.conn.commit()

    async def _close(self) -> None:
        if self._session is not None:
            await self._session.close()


class UpdateFsm(BaseStorage):
    """aiogram's FSM storage inside one update's transaction: the sender's row is read with the update's first read
    (UpdateTx.begin), any other row once; changes stay in the transaction and are written once, with its last writes,
    however many times the handler set the state and the data."""

    def __init__(self, tx: UpdateTx, key_builder: KeyBuilder) -> None:
        self.tx, self.key_builder = tx, key_builder

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        row_key = self.key_builder.build(key)
        _state, data = await self.tx.row(row_key) or (None, {})
        self.tx.write_row(key, row_key, (state.state if isinstance(state, State) else state, data))

    async def get_state(self, key: StorageKey) -> str | None:
        row = await self.tx.row(self.key_builder.build(key))
        return None if row is None else row[0]

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        if not isinstance(data, dict):
            raise TypeError(f"data must be a dict, not {type(data).__name__}")
        row_key = self.key_builder.build(key)
        state, _data = await self.tx.row(row_key) or (None, {})
        self.tx.write_row(key, row_key, (state, jsoncodec.copy(data)))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        row = await self.tx.row(self.key_builder.build(key))
        return {} if row is None else jsoncodec.copy(row[1] or {})

    async def close(self) -> None:
        return None


def _statements(conn: AsyncConnection, raw: Any) -> Statements:
    if conn.dialect.name == "sqlite":
        return SQLiteStatements(raw.driver_connection)
    return PostgresStatements(raw.dbapi_connection)


async def _roll_back(conn: AsyncConnection, sql: Statements) -> None:
    """Roll back; a connection the server dropped is thrown away instead of going back to the pool (a statement
    SQLAlchemy ran would have told its pool; one run here on the driver has to say it)."""
    if not sql.broken():
        try:
            await conn.rollback()
            return
        except Exception:
            if not sql.broken():
                raise
    await conn.invalidate()


class HeldConnection:
    """SQLite: the one connection updates' transactions run on, kept between them. Their turns come one at a
    time anyway (storage.uow.write_turn), and taking a pooled connection and giving it back cost about 5% of the
    bot's CPU per update. Closed by the app before the engine; replaced if it ever breaks."""

    def __init__(self) -> None:
        self._conn: AsyncConnection | None = None
        self._sql: Statements | None = None

    async def get(self, engine: AsyncEngine) -> tuple[AsyncConnection, Statements]:
        if self._conn is None or self._sql is None or self._conn.closed or self._conn.invalidated:
            self._conn = await engine.connect()
            self._sql = _statements(self._conn, await self._conn.get_raw_connection())
        return self._conn, self._sql

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn, self._sql = self._conn, None, None
            await conn.close()


@asynccontextmanager
async def update_transaction(
    sessionmaker: async_sessionmaker[AsyncSession], held: HeldConnection | None = None, inbox: Inbox | None = None
) -> AsyncIterator[UpdateTx]:
    """An update's transaction: commit on success (the conversation rows written just before), roll back on error.
    `held`: on SQLite, the connection kept for updates (else one from the pool, given back after); `inbox`: where
    updates are taken (UpdateTx.begin)."""
    engine: AsyncEngine = sessionmaker.kw["bind"]
    async with write_turn(sessionmaker):
        if held is not None and engine.dialect.name == "sqlite":
            conn, sql = await held.get(engine)
            pooled = False
        else:
            conn = await engine.connect()
            sql, pooled = _statements(conn, await conn.get_raw_connection()), True
        try:
            await conn.begin()
            tx = UpdateTx(conn, sql, sessionmaker, inbox)
            try:
                yield tx
                await tx._finish(utcnow())
            except BaseException:
                await _roll_back(conn, tx.sql)
                raise
            finally:
                await tx._close()
        finally:
            if pooled:
                await conn.close()
