"""An update's transaction, with the statements every update runs sent to the driver's connection directly.

Every update runs the same few statements: claim it in the inbox, read the sender's conversation row
with the people counter, write that row back, store the answers in the outbox, commit. Through
SQLAlchemy each costs 60 to 100 µs of Python (session, statement cache lookup, result objects, a greenlet
switch) around a statement SQLite runs in under 10 µs; together that was a third of the bot's CPU per
update. Here they are fixed SQL text run on the pooled connection's driver (sqlite3 or asyncpg) inside
the same transaction, and the ORM session is opened only when a handler needs one (the first
`tx.session`), bound to the same connection, so whatever it does commits or rolls back with the rest.

Values are stored exactly as the ORM stores them (tests/storage/test_hotpath.py reads them back through the ORM
on both databases): times as SQLAlchemy's SQLite DATETIME text (naive UTC) or timestamptz, JSON as text
(SQLite) or jsonb through SQLAlchemy's own asyncpg codec.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from bot.domain import jsoncodec
from bot.domain.clock import utcnow
from storage.uow import write_turn

Row = tuple[str | None, dict[str, Any]]

current_tx: ContextVar[UpdateTx | None] = ContextVar("kuaibao_update_tx", default=None)


def _sqlite_time(value: datetime) -> str:
    """SQLAlchemy's storage format for DATETIME on SQLite (UTC, naive, always with microseconds)."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")  # (strftime: 9 µs)


class _SQLite:
    """The statements for sqlite3, run in place on the event loop's thread (see storage.db)."""

    TAKE = "UPDATE update_inbox SET handled_at = ? WHERE bot_id = ? AND update_id = ? AND handled_at IS NULL"
    EXISTS = "SELECT 1 FROM update_inbox WHERE bot_id = ? AND update_id = ?"
    PRELOAD = (
        "SELECT v.value, f.state, f.data, f.key FROM people_version AS v "
        "LEFT OUTER JOIN fsm_state AS f ON f.key = ? WHERE v.id = 1"
    )
    VERSION = "SELECT value FROM people_version WHERE id = 1"
    UPSERT = (
        "INSERT INTO fsm_state (key, bot_id, chat_id, user_id, state, data, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (key) DO UPDATE SET state = excluded.state, data = excluded.data, "
        "updated_at = excluded.updated_at"
    )
    DELETE = "DELETE FROM fsm_state WHERE key = ?"
    OUTBOX = "INSERT INTO outbox (payload, created_at) VALUES (?, ?) RETURNING id"

    def __init__(self, driver: Any) -> None:
        self.db = driver

    def broken(self) -> bool:
        return False

    async def begin(self) -> None:
        """sqlite3 opens the transaction itself before the first write (SQLAlchemy's pysqlite mode)."""

    async def take(self, bot_id: int, update_id: int, now: datetime) -> bool:
        return bool(self.db.execute(self.TAKE, (_sqlite_time(now), bot_id, update_id)).rowcount == 1)

    async def exists(self, bot_id: int, update_id: int) -> bool:
        return self.db.execute(self.EXISTS, (bot_id, update_id)).fetchone() is not None

    async def preload(self, row_key: str) -> tuple[int, Row | None]:
        version, state, data, found = self.db.execute(self.PRELOAD, (row_key,)).fetchone()
        return int(version), None if found is None else (state, jsoncodec.loads(data) if data else {})

    async def version(self) -> int:
        return int(self.db.execute(self.VERSION).fetchone()[0])

    async def take_preload(
        self, bot_id: int, update_id: int, now: datetime, row_key: str
    ) -> tuple[bool, int, Row | None]:
        """take() and preload() (on SQLite two statements: a round trip costs nothing here)."""
        return await self.take(bot_id, update_id, now), *await self.preload(row_key)

    async def upsert(self, row_key: str, bot_id: int, chat_id: int, user_id: int, state: str | None,
                     data: dict[str, Any], now: datetime) -> None:  # fmt: skip
        params = (row_key, bot_id, chat_id, user_id, state, jsoncodec.dumps(data), _sqlite_time(now))
        self.db.execute(self.UPSERT, params)

    async def delete(self, row_key: str) -> None:
        self.db.execute(self.DELETE, (row_key,))

    async def outbox(self, payloads: Sequence[str], now: datetime) -> list[int]:
        at = _sqlite_time(now)
        return [int(self.db.execute(self.OUTBOX, (p, at)).fetchone()[0]) for p in payloads]


def _numbered(sql: str) -> str:
    """The same statement with asyncpg's numbered parameters ($1, $2…) instead of sqlite3's `?`."""
    count = iter(range(1, sql.count("?") + 1))
    return re.sub(r"\?", lambda _m: f"${next(count)}", sql)


class _Postgres:
    """The statements for asyncpg (prepared once per connection by asyncpg's statement cache)."""

    TAKE, EXISTS, PRELOAD, VERSION, UPSERT, DELETE = (
        _numbered(sql) for sql in (_SQLite.TAKE, _SQLite.EXISTS, _SQLite.PRELOAD, _SQLite.VERSION, _SQLite.UPSERT,
                                   _SQLite.DELETE)
    )  # fmt: skip
    # ids come from a sequence in the order the rows are inserted: sorted, they follow the payloads' order
    OUTBOX = (
        "INSERT INTO outbox (payload, created_at) SELECT p, $2 FROM unnest($1::text[]) WITH ORDINALITY AS u(p, n) "
        "ORDER BY n RETURNING id"
    )

    def __init__(self, adapter: Any) -> None:
        self.adapter = adapter  # SQLAlchemy's asyncpg adapter: it owns the transaction
        self.db = adapter.driver_connection

    def broken(self) -> bool:
        return bool(self.db.is_closed())

    async def begin(self) -> None:
        """Start the transaction the way SQLAlchemy's adapter does, so the ORM session joins it and its commit
        ends it (the adapter starts one lazily, at its first statement)."""
        if self.adapter._transaction is None:
            await self.adapter._start_transaction()

    async def take(self, bot_id: int, update_id: int, now: datetime) -> bool:
        return bool(await self.db.execute(self.TAKE, now, bot_id, update_id) == "UPDATE 1")

    async def exists(self, bot_id: int, update_id: int) -> bool:
        return await self.db.fetchval(self.EXISTS, bot_id, update_id) is not None

    async def preload(self, row_key: str) -> tuple[int, Row | None]:
        version, state, data, found = await self.db.fetchrow(self.PRELOAD, row_key)
        return int(version), None if found is None else (state, data or {})

    async def version(self) -> int:
        return int(await self.db.fetchval(self.VERSION))

    # take() and preload() in one round trip (a data-modifying CTE runs whether or not the query reads it)
    TAKE_PRELOAD = (
        "WITH t AS (UPDATE update_inbox SET handled_at = $1 WHERE bot_id = $2 AND update_id = $3 "
        "AND handled_at IS NULL RETURNING 1) "
        "SELECT (SELECT count(*) FROM t), v.value, f.state, f.data, f.key FROM people_version AS v "
        "LEFT OUTER JOIN fsm_state AS f ON f.key = $4 WHERE v.id = 1"
    )

    async def take_preload(
        self, bot_id: int, update_id: int, now: datetime, row_key: str
    ) -> tuple[bool, int, Row | None]:
        taken, version, state, data, found = await self.db.fetchrow(self.TAKE_PRELOAD, now, bot_id, update_id, row_key)
        return taken == 1, int(version), None if found is None else (state, data or {})

    async def upsert(self, row_key: str, bot_id: int, chat_id: int, user_id: int, state: str | None,
                     data: dict[str, Any], now: datetime) -> None:  # fmt: skip
        await self.db.execute(self.UPSERT, row_key, bot_id, chat_id, user_id, state, jsoncodec.dumps(data), now)

    async def delete(self, row_key: str) -> None:
        await self.db.execute(self.DELETE, row_key)

    async def outbox(self, payloads: Sequence[str], now: datetime) -> list[int]:
        return sorted(int(r[0]) for r in await self.db.fetch(self.OUTBOX, list(payloads), now))


class UpdateTx:
    """One update's transaction: the hot-path statements (`sql`), the ORM session on demand (`session`),
    and what the update noted for after its commit (`info`: the nearest timer, a warning published)."""

    def __init__(self, conn: AsyncConnection, sql: _SQLite | _Postgres,
                 sessionmaker: async_sessionmaker[AsyncSession]) -> None:  # fmt: skip
        self.conn = conn
        self.sql = sql
        self._sessionmaker = sessionmaker
        self._session: AsyncSession | None = None
        self._begun = False
        self.rows: dict[str, Row | None] = {}  # conversation rows read or written in this transaction
        self.prefetched: tuple[str, int] | None = None  # (row key, people counter) read with the inbox claim
        self.pending: dict[str, tuple[int, int, int]] = {}  # rows to write before the commit: key -> ids

    async def driver(self) -> _SQLite | _Postgres:
        """The driver's statements, with the transaction started."""
        if not self._begun:
            await self.sql.begin()
            self._begun = True
        return self.sql

    @property
    def session(self) -> AsyncSession:
        """The ORM session of this transaction (opened at the first use, on the same connection)."""
        if self._session is None:
            self._session = self._sessionmaker(bind=self.conn, join_transaction_mode="rollback_only")
        return self._session

    @property
    def info(self) -> dict[str, Any]:
        return self._session.info if self._session is not None else {}

    async def _finish(self, now: datetime) -> None:
        if self._session is not None:
            await self._session.flush()
        if self.pending:
            sql = await self.driver()
            for row_key, (bot_id, chat_id, user_id) in self.pending.items():
                state, data = self.rows.get(row_key) or (None, {})
                if state is None and not data:
                    await sql.delete(row_key)
                else:
                    await sql.upsert(row_key, bot_id, chat_id, user_id, state, data, now)
            self.pending.clear()
        await self.conn.commit()

    async def _close(self) -> None:
        if self._session is not None:
            await self._session.close()


def _statements(conn: AsyncConnection, raw: Any) -> _SQLite | _Postgres:
    if conn.dialect.name == "sqlite":
        return _SQLite(raw.driver_connection)
    return _Postgres(raw.dbapi_connection)


async def _roll_back(conn: AsyncConnection, sql: _SQLite | _Postgres) -> None:
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
        self._sql: _SQLite | _Postgres | None = None

    async def get(self, engine: AsyncEngine) -> tuple[AsyncConnection, _SQLite | _Postgres]:
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
    sessionmaker: async_sessionmaker[AsyncSession], held: HeldConnection | None = None
) -> AsyncIterator[UpdateTx]:
    """An update's transaction: commit on success (the conversation rows written just before), roll back on error.
    `held`: on SQLite, the connection kept for updates (else one from the pool, given back after)."""
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
            tx = UpdateTx(conn, sql, sessionmaker)
            token = current_tx.set(tx)
            try:
                yield tx
                await tx._finish(utcnow())
            except BaseException:
                await _roll_back(conn, tx.sql)
                raise
            finally:
                current_tx.reset(token)
                await tx._close()
        finally:
            if pooled:
                await conn.close()
