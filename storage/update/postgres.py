"""An update's statements on PostgreSQL (asyncpg, prepared once per connection by asyncpg's statement cache)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from bot.domain import jsoncodec
from storage.update.port import Begun, Row, RowWrite, Take, cleared
from storage.update.sqlite import SQLiteStatements


def _numbered(sql: str) -> str:
    """The same statement with asyncpg's numbered parameters ($1, $2…) instead of sqlite3's `?`."""
    count = iter(range(1, sql.count("?") + 1))
    return re.sub(r"\?", lambda _m: f"${next(count)}", sql)


class PostgresStatements:
    """The statements for asyncpg (prepared once per connection by asyncpg's statement cache). An update runs two
    round trips when it needs no ORM session: one read at the start (whether the update was handled, the sender's
    conversation row, the people counter) and one statement at the end that takes the update in the inbox and
    writes the conversation rows and the outbox, atomic on its own: no BEGIN, no COMMIT. An update that uses the
    ORM session runs in the transaction SQLAlchemy's adapter opens at the session's first statement, and the last
    statement runs in it. Another process handling the same update at the same moment finds it taken then: nothing
    of its work is written, nothing sent (UpdateTx raises HandledElsewhere)."""

    PRELOAD, VERSION = (_numbered(sql) for sql in (SQLiteStatements.PRELOAD, SQLiteStatements.VERSION))
    # handled, or set aside (quarantined): either way not to be run now
    DONE = "(handled_at IS NOT NULL OR quarantined_at IS NOT NULL)"
    CHECK = f"SELECT {DONE} FROM update_inbox WHERE bot_id = $1 AND update_id = $2"
    CHECK_PRELOAD = (
        f"SELECT (SELECT {DONE} FROM update_inbox WHERE bot_id = $1 AND update_id = $2), "
        "v.value, f.state, f.data, f.key FROM people_version AS v "
        "LEFT OUTER JOIN fsm_state AS f ON f.key = $3 WHERE v.id = 1"
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

    async def begin(
        self, bot_id: int | None, update_id: int | None, now: datetime, row_key: str | None, recorded: bool
    ) -> Begun:
        """Whether it was handled, the row and the counter in one round trip; the update is taken with its last
        writes (finish), so a second process handling it meanwhile finds it taken then."""
        if bot_id is None or update_id is None:
            version, row = await self.preload(row_key) if row_key is not None else (await self.version(), None)
            return Begun(None, version, row)
        if row_key is None:
            handled = await self.check(bot_id, update_id)
            version, row = await self.version(), None
        else:
            handled, version, row = await self.check_preload(bot_id, update_id, row_key)
        return Begun(None if handled is None else not handled, version, row)

    async def check_preload(self, bot_id: int, update_id: int, row_key: str) -> tuple[bool | None, int, Row | None]:
        """check() and preload() in one round trip."""
        handled, version, state, data, found = await self.db.fetchrow(self.CHECK_PRELOAD, bot_id, update_id, row_key)
        return handled, int(version), None if found is None else (state, data or {})

    async def preload(self, row_key: str) -> tuple[int, Row | None]:
        version, state, data, found = await self.db.fetchrow(self.PRELOAD, row_key)
        return int(version), None if found is None else (state, data or {})

    async def version(self) -> int:
        return int(await self.db.fetchval(self.VERSION))

    async def finish(
        self,
        rows: Sequence[RowWrite],
        payloads: Sequence[str],
        now: datetime,
        take: Take | None = None,
        outbox_until: datetime | None = None,
    ) -> tuple[bool, list[int]]:
        """The update's last writes in one statement: the update taken in the inbox (`take`, see Take),
        the conversation rows, the outbox. Run inside the ORM session's transaction when the update used one, else
        on its own, atomic by itself; either way nothing is written unless the update is taken here. Returns
        whether it was taken (always, without `take`) and the outbox ids."""
        sql, params = _final_statement(take, rows, payloads, now, outbox_until)
        taken, ids = await self.db.fetchrow(sql, *params)
        return bool(taken), sorted(ids or ())


@cache
def _final_sql(take: bool, rows: tuple[bool, ...], outbox: bool) -> str:
    """The statement _final_statement fills (`rows`: for each conversation row, whether it is cleared)."""
    n = iter(range(1, 1000))
    ctes, guard = [], ""
    if take:
        at, bot, update = next(n), next(n), next(n)
        ctes.append(
            f"t AS (UPDATE update_inbox SET handled_at = ${at}::timestamptz WHERE bot_id = ${bot}::bigint "
            f"AND update_id = ${update}::bigint AND handled_at IS NULL AND quarantined_at IS NULL "
            "RETURNING 1)"
        )
        guard = "EXISTS (SELECT 1 FROM t)"
    for i, gone in enumerate(rows):
        if gone:
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
        payloads, at, until = next(n), next(n), next(n)
        where = f" WHERE {guard}" if guard else ""
        ctes.append(
            f"o AS (INSERT INTO outbox (payload, created_at, leased_until) SELECT u.p, ${at}::timestamptz, "
            f"${until}::timestamptz "
            f"FROM unnest(${payloads}::text[]) WITH ORDINALITY AS u(p, n){where} "
            "ORDER BY u.n RETURNING id)"
        )
    taken = "(SELECT count(*) FROM t)" if take else "1"
    ids = "ARRAY(SELECT id FROM o)" if outbox else "NULL::int[]"
    return ("WITH " + ", ".join(ctes) + " " if ctes else "") + f"SELECT {taken}, {ids}"


def _final_statement(
    take: Take | None,
    rows: Sequence[RowWrite],
    payloads: Sequence[str],
    now: datetime,
    outbox_until: datetime | None = None,
) -> tuple[str, list[Any]]:
    params: list[Any] = [take[2], take[0], take[1]] if take else []
    for row in rows:
        if cleared(row):
            params.append(row[0])
        else:
            params.extend((*row[:5], jsoncodec.dumps(row[5]), now))
    if payloads:
        params.extend((list(payloads), now, outbox_until))
    return _final_sql(take is not None, tuple(cleared(r) for r in rows), bool(payloads)), params
