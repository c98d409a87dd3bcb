"""An update's transaction, with the statements every update runs sent to the driver's connection directly.

Every update runs the same few statements: claim it in the inbox, read the sender's conversation row
with the people counter, write that row back, store the answers in the outbox, commit. Through
SQLAlchemy each costs 60 to 100 µs of Python (session, statement cache lookup, result objects, a greenlet
switch) around a statement SQLite runs in under 10 µs; together that was a third of the bot's CPU per
update. Here they are fixed SQL text run on the pooled connection's driver (sqlite3 or asyncpg) inside
the same transaction, and the ORM session is opened only when a handler needs one (the first
`tx.session`), bound to the same connection, so whatever it does commits or rolls back with the rest.

On PostgreSQL every statement is a round trip, and under load each costs a turn of the event loop: there the
update is taken in the inbox with its last writes, in one statement that also writes the conversation rows and the
outbox (atomic on its own when the handler used no ORM session: no BEGIN, no COMMIT), see _Postgres.

Values are stored exactly as the ORM stores them (tests/storage/test_hotpath.py reads them back through the ORM
on both databases): times as SQLAlchemy's SQLite DATETIME text (naive UTC) or timestamptz, JSON as text
(SQLite) or jsonb through SQLAlchemy's own asyncpg codec.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from functools import cache
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

    TAKE = (  # (an update set aside is never taken: it counts as handled until an operator releases it)
        "UPDATE update_inbox SET handled_at = ? WHERE bot_id = ? AND update_id = ? AND handled_at IS NULL "
        "AND quarantined_at IS NULL"
    )
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
    LATEST_OPEN = (  # DeadlineRepo.latest_open, for an update that needs no ORM session for anything else
        "SELECT incident_id FROM deadlines WHERE reporter_id = ? AND state = 'open' AND due = ? "
        "ORDER BY due_at DESC, id DESC LIMIT 1"
    )

    def __init__(self, driver: Any) -> None:
        self.db = driver

    late_take = False  # taken at the start: sqlite3 opens the transaction at that first write

    def broken(self) -> bool:
        return False

    async def take(self, bot_id: int, update_id: int, now: datetime) -> bool:
        return bool(self.db.execute(self.TAKE, (_sqlite_time(now), bot_id, update_id)).rowcount == 1)

    async def exists(self, bot_id: int, update_id: int) -> bool:
        return self.db.execute(self.EXISTS, (bot_id, update_id)).fetchone() is not None

    async def preload(self, row_key: str) -> tuple[int, Row | None]:
        version, state, data, found = self.db.execute(self.PRELOAD, (row_key,)).fetchone()
        return int(version), None if found is None else (state, jsoncodec.loads(data) if data else {})

    async def version(self) -> int:
        return int(self.db.execute(self.VERSION).fetchone()[0])

    async def latest_open(self, reporter_id: int, due: str) -> int | None:
        row = self.db.execute(self.LATEST_OPEN, (reporter_id, due)).fetchone()
        return None if row is None else int(row[0])

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

    async def finish(self, rows: Sequence[RowWrite], payloads: Sequence[str], now: datetime,
                     take: Take | None = None) -> tuple[bool, list[int]]:  # fmt: skip
        """The transaction's last writes: the conversation rows, then the outbox (returns True and its ids; the
        update was taken at the start, in the same transaction)."""
        for row in rows:
            if _cleared(row):
                await self.delete(row[0])
            else:
                await self.upsert(*row, now)
        return True, await self.outbox(payloads, now) if payloads else []


def _numbered(sql: str) -> str:
    """The same statement with asyncpg's numbered parameters ($1, $2…) instead of sqlite3's `?`."""
    count = iter(range(1, sql.count("?") + 1))
    return re.sub(r"\?", lambda _m: f"${next(count)}", sql)


class _Postgres:
    """The statements for asyncpg (prepared once per connection by asyncpg's statement cache). An update runs two
    round trips when it needs no ORM session: one read at the start (whether the update was handled, the sender's
    conversation row, the people counter) and one statement at the end that takes the update in the inbox and
    writes the conversation rows and the outbox, atomic on its own: no BEGIN, no COMMIT. An update that uses the
    ORM session runs in the transaction SQLAlchemy's adapter opens at the session's first statement, and the last
    statement runs in it. Another process handling the same update at the same moment finds it taken then: nothing
    of its work is written, nothing sent (UpdateTx raises HandledElsewhere)."""

    PRELOAD, VERSION, LATEST_OPEN = (_numbered(sql) for sql in (_SQLite.PRELOAD, _SQLite.VERSION, _SQLite.LATEST_OPEN))
    # handled, or set aside (quarantined): either way not to be run now
    DONE = "(handled_at IS NOT NULL OR quarantined_at IS NOT NULL)"
    CHECK = f"SELECT {DONE} FROM update_inbox WHERE bot_id = $1 AND update_id = $2"
    CHECK_PRELOAD = (
        f"SELECT (SELECT {DONE} FROM update_inbox WHERE bot_id = $1 AND update_id = $2), "
        "v.value, f.state, f.data, f.key FROM people_version AS v "
        "LEFT OUTER JOIN fsm_state AS f ON f.key = $3 WHERE v.id = 1"
    )
    # the same, and for the sender (Telegram id $4): their user id and the incident of their open deadline of kind $5
    # due last (DeadlineRepo.latest_open), for an update whose handler asks (see UpdateTx.latest_open)
    CHECK_PRELOAD_OPEN = (
        f"SELECT (SELECT {DONE} FROM update_inbox WHERE bot_id = $1 AND update_id = $2), "
        "v.value, f.state, f.data, f.key, u.id, (SELECT d.incident_id FROM deadlines AS d WHERE d.reporter_id = u.id "
        "AND d.state = 'open' AND d.due = $5 ORDER BY d.due_at DESC, d.id DESC LIMIT 1) FROM people_version AS v "
        "LEFT OUTER JOIN users AS u ON u.telegram_id = $4 LEFT OUTER JOIN fsm_state AS f ON f.key = $3 WHERE v.id = 1"
    )
    late_take = True  # the update is taken with the last writes (see finish)

    def __init__(self, adapter: Any) -> None:
        self.db = adapter.driver_connection  # under SQLAlchemy's asyncpg adapter, which owns the ORM's transaction

    def broken(self) -> bool:
        return bool(self.db.is_closed())

    async def check(self, bot_id: int, update_id: int) -> bool | None:
        """Whether the update was handled (None: it is not in the inbox)."""
        handled: bool | None = await self.db.fetchval(self.CHECK, bot_id, update_id)
        return handled

    async def check_preload(self, bot_id: int, update_id: int, row_key: str,
                            latest: Latest | None = None) -> tuple[bool | None, int, Row | None]:  # fmt: skip
        """check() and preload() in one round trip; with `latest`, the sender's latest_open() too, noted there."""
        if latest is None:
            handled, version, state, data, found = await self.db.fetchrow(
                self.CHECK_PRELOAD, bot_id, update_id, row_key
            )
        else:
            handled, version, state, data, found, user_id, incident_id = await self.db.fetchrow(
                self.CHECK_PRELOAD_OPEN, bot_id, update_id, row_key, latest.telegram_id, latest.due
            )
            if user_id is not None:
                latest.found[(user_id, latest.due)] = incident_id
        return handled, int(version), None if found is None else (state, data or {})

    async def preload(self, row_key: str) -> tuple[int, Row | None]:
        version, state, data, found = await self.db.fetchrow(self.PRELOAD, row_key)
        return int(version), None if found is None else (state, data or {})

    async def version(self) -> int:
        return int(await self.db.fetchval(self.VERSION))

    async def latest_open(self, reporter_id: int, due: str) -> int | None:
        """A read on its own (in the ORM session's transaction once one is open)."""
        incident_id: int | None = await self.db.fetchval(self.LATEST_OPEN, reporter_id, due)
        return incident_id

    async def finish(self, rows: Sequence[RowWrite], payloads: Sequence[str], now: datetime,
                     take: Take | None = None) -> tuple[bool, list[int]]:  # fmt: skip
        """The update's last writes in one statement: the update taken in the inbox (`take`, see Take),
        the conversation rows, the outbox. Run inside the ORM session's transaction when the update used one, else
        on its own, atomic by itself; either way nothing is written unless the update is taken here. Returns
        whether it was taken (always, without `take`) and the outbox ids."""
        sql, params = _final_statement(take, rows, payloads, now)
        taken, ids = await self.db.fetchrow(sql, *params)
        return bool(taken), sorted(ids or ())


@cache
def _final_sql(take: bool, rows: tuple[bool, ...], outbox: bool) -> str:
    """The statement _final_statement fills (`rows`: for each conversation row, whether it is cleared)."""
    n = iter(range(1, 1000))
    ctes, guard = [], ""
    if take:
        at, bot, update = next(n), next(n), next(n)
        ctes.append(f"t AS (UPDATE update_inbox SET handled_at = ${at}::timestamptz WHERE bot_id = ${bot}::bigint "
                    f"AND update_id = ${update}::bigint AND handled_at IS NULL AND quarantined_at IS NULL "
                    "RETURNING 1)")  # fmt: skip
        guard = "EXISTS (SELECT 1 FROM t)"
    for i, cleared in enumerate(rows):
        if cleared:
            where = f"key = ${next(n)}::text" + (f" AND {guard}" if guard else "")
            ctes.append(f"d{i} AS (DELETE FROM fsm_state WHERE {where})")
            continue
        key, bot, chat, user, state, data, at = (next(n) for _ in range(7))
        ctes.append(
            f"s{i} AS (INSERT INTO fsm_state (key, bot_id, chat_id, user_id, state, data, updated_at) "
            f"SELECT ${key}::text, ${bot}::bigint, ${chat}::bigint, ${user}::bigint, ${state}::text, ${data}::jsonb, "
            f"${at}::timestamptz" + (f" WHERE {guard}" if guard else "") + " ON CONFLICT (key) DO UPDATE SET "
            "state = excluded.state, data = excluded.data, updated_at = excluded.updated_at)"
        )
    if outbox:
        # ids come from a sequence in the order the rows are inserted: sorted, they follow the payloads' order
        payloads, at = next(n), next(n)
        where = f" WHERE {guard}" if guard else ""
        ctes.append(f"o AS (INSERT INTO outbox (payload, created_at) SELECT u.p, ${at}::timestamptz "
                    f"FROM unnest(${payloads}::text[]) WITH ORDINALITY AS u(p, n){where} "
                    "ORDER BY u.n RETURNING id)")  # fmt: skip
    taken = "(SELECT count(*) FROM t)" if take else "1"
    ids = "ARRAY(SELECT id FROM o)" if outbox else "NULL::int[]"
    return ("WITH " + ", ".join(ctes) + " " if ctes else "") + f"SELECT {taken}, {ids}"


def _final_statement(take: Take | None, rows: Sequence[RowWrite], payloads: Sequence[str],
                     now: datetime) -> tuple[str, list[Any]]:  # fmt: skip
    params: list[Any] = [take[2], take[0], take[1]] if take else []
    for row in rows:
        if _cleared(row):
            params.append(row[0])
        else:
            params.extend((*row[:5], jsoncodec.dumps(row[5]), now))
    if payloads:
        params.extend((list(payloads), now))
    return _final_sql(take is not None, tuple(_cleared(r) for r in rows), bool(payloads)), params


# an update to take in the inbox: (bot id, update id, the time it is marked handled)
Take = tuple[int, int, datetime]


class Latest:
    """What an update will ask of DeadlineRepo.latest_open for its sender (a command's handler: `/report` asks
    for the written report they owe), read on PostgreSQL with the sender's row in the update's first round trip
    (_Postgres.check_preload) instead of a round trip of its own. `found`: (user id, kind) -> incident (None: none
    open), filled by that read."""

    __slots__ = ("due", "found", "telegram_id")

    def __init__(self, telegram_id: int, due: str) -> None:
        self.telegram_id, self.due = telegram_id, due
        self.found: dict[tuple[int, str], int | None] = {}


# a conversation row to write: (key, bot id, chat id, user id, state, data); cleared (no state, no data): deleted
RowWrite = tuple[str, int, int, int, str | None, dict[str, Any]]


def _cleared(row: RowWrite) -> bool:
    return row[4] is None and not row[5]


class HandledElsewhere(Exception):
    """PostgreSQL: another process took the update first (its effects are committed); this one's roll back."""


class UpdateTx:
    """One update's transaction: the hot-path statements (`sql`), the ORM session on demand (`session`),
    and what the update noted for after its commit (`info`: the nearest timer, a warning published)."""

    def __init__(self, conn: AsyncConnection, sql: _SQLite | _Postgres,
                 sessionmaker: async_sessionmaker[AsyncSession]) -> None:  # fmt: skip
        self.conn = conn
        self.sql = sql
        self._sessionmaker = sessionmaker
        self._session: AsyncSession | None = None
        self.late_take: Take | None = None  # PostgreSQL takes the update with the last writes
        self.rows: dict[str, Row | None] = {}  # conversation rows read or written in this transaction
        self.prefetched: tuple[str, int] | None = None  # (row key, people counter) read with the inbox claim
        self.latest: Latest | None = None  # the sender's latest open deadline, read with the inbox claim
        self.pending: dict[str, tuple[int, int, int]] = {}  # rows to write before the commit: key -> ids
        self._outbox: list[str] = []  # messages to store with the last writes (storage.outbox.save_in)
        self._outbox_ids: list[int] = []
        self._on_outbox: Callable[[list[int]], object] | None = None

    async def driver(self) -> _SQLite | _Postgres:
        """The driver's statements (on SQLite in the transaction sqlite3 opens at the first write; on PostgreSQL
        reads on their own until the ORM session opens a transaction, see _Postgres)."""
        return self.sql

    async def latest_open(self, reporter_id: int, due: str) -> int | None:
        """DeadlineRepo.latest_open with the driver's statement (for an update that has no ORM session open): as
        read with the inbox claim when it was (Latest), else a read of its own."""
        if self.latest is not None and (reporter_id, due) in self.latest.found:
            return self.latest.found[(reporter_id, due)]
        return await self.sql.latest_open(reporter_id, due)

    @property
    def session(self) -> AsyncSession:
        """The ORM session of this transaction (opened at the first use, on the same connection)."""
        if self._session is None:
            self._session = self._sessionmaker(bind=self.conn, join_transaction_mode="rollback_only")
        return self._session

    @property
    def info(self) -> dict[str, Any]:
        return self._session.info if self._session is not None else {}

    def store_outbox(self, payloads: Sequence[str], on_stored: Callable[[list[int]], object]) -> list[int]:
        """Messages to store with the transaction's last writes, just before the commit. Returns the list their
        ids go into then; `on_stored` gets them before the commit (once stored, nobody else may take them)."""
        self._outbox.extend(payloads)
        self._on_outbox = on_stored
        return self._outbox_ids

    async def _finish(self, now: datetime) -> None:
        if self._session is not None:
            await self._session.flush()
        if self.pending or self._outbox or self.late_take:
            rows: list[RowWrite] = []
            for row_key, (bot_id, chat_id, user_id) in self.pending.items():
                state, data = self.rows.get(row_key) or (None, {})
                rows.append((row_key, bot_id, chat_id, user_id, state, data))
            self.pending.clear()
            taken, ids = await self.sql.finish(rows, self._outbox, now, self.late_take)
            if not taken:
                raise HandledElsewhere(f"update {self.late_take} was handled meanwhile")
            self._outbox.clear()
            self._outbox_ids.extend(ids)
            if self._on_outbox is not None:
                self._on_outbox(ids)
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
