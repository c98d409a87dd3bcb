"""An update's statements on SQLite (sqlite3, run in place on the event loop's thread: see storage.db)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from bot.domain import jsoncodec
from storage.update.port import Begun, Row, RowWrite, Take, cleared


def _sqlite_time(value: datetime) -> str:
    """SQLAlchemy's storage format for DATETIME on SQLite (UTC, naive, always with microseconds)."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")  # (strftime: 9 µs)


class SQLiteStatements:
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
    OUTBOX = "INSERT INTO outbox (payload, created_at, leased_until) VALUES (?, ?, ?) RETURNING id"

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

    async def begin(
        self, bot_id: int | None, update_id: int | None, now: datetime, row_key: str | None, recorded: bool
    ) -> Begun:
        """Taken at once (sqlite3 opens the transaction at that first write), then the row and the counter."""
        took = None if bot_id is None or update_id is None else await self.take(bot_id, update_id, now)
        version, row = await self.preload(row_key) if row_key is not None else (await self.version(), None)
        if took is None or took:
            return Begun(took, version, row)
        if recorded:  # (a second copy of it in the same batch)
            return Begun(False, version, row)
        assert bot_id is not None and update_id is not None
        return Begun(False if await self.exists(bot_id, update_id) else None, version, row)

    async def upsert(
        self,
        row_key: str,
        bot_id: int,
        chat_id: int,
        user_id: int,
        state: str | None,
        data: dict[str, Any],
        now: datetime,
    ) -> None:
        params = (row_key, bot_id, chat_id, user_id, state, jsoncodec.dumps(data), _sqlite_time(now))
        self.db.execute(self.UPSERT, params)

    async def delete(self, row_key: str) -> None:
        self.db.execute(self.DELETE, (row_key,))

    async def outbox(self, payloads: Sequence[str], now: datetime, until: datetime | None = None) -> list[int]:
        at, held = _sqlite_time(now), _sqlite_time(until) if until is not None else None
        return [int(self.db.execute(self.OUTBOX, (p, at, held)).fetchone()[0]) for p in payloads]

    async def finish(
        self,
        rows: Sequence[RowWrite],
        payloads: Sequence[str],
        now: datetime,
        take: Take | None = None,
        outbox_until: datetime | None = None,
    ) -> tuple[bool, list[int]]:
        """The transaction's last writes: the conversation rows, then the outbox (returns True and its ids; the
        update was taken at the start, in the same transaction)."""
        for row in rows:
            if cleared(row):
                await self.delete(row[0])
            else:
                await self.upsert(*row, now)
        return True, await self.outbox(payloads, now, outbox_until) if payloads else []
