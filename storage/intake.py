"""Where a webhook worker stores what Telegram posts (before the 200): `Intake.receive`, the statement of
storage.inbox.Inbox.receive (stored, and taken by the receiving worker when it may run now).

On SQLite that is the inbox itself, in the writer's turn (the inbox goes first there). On PostgreSQL it runs on a small
asyncpg pool of its own: the 200 never waits for a connection behind the updates being run, and a POST costs a third
of the CPU it costs through an ORM session (0.34 against 0.89 ms, measured: the session, its greenlet and its commit
are most of it for one statement); POSTs that arrive together are stored by one statement. The rules are Inbox.receive's
(tests/storage/test_update.py runs the same cases through both)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.engine import URL

from bot.domain.clock import utcnow
from storage.inbox import INBOX_CHANNEL


class Intake(Protocol):
    async def receive(
        self, update_id: int, payload: str, sender: int | None, worker: str | None, until: datetime
    ) -> bool: ...

    async def close(self) -> None: ...


# One statement stores a batch (the POSTs that arrived while the previous batch was being stored): a row is taken when
# the worker has room for it (`take`), its sender has no earlier update waiting in the table, and it is the first of
# its sender in the batch (the caller sees to that). Written out rather than built with Core: it reads arrays (unnest).
RECEIVE_BATCH = """
INSERT INTO update_inbox (bot_id, update_id, payload, received_at, sender_id, leased_until, leased_by, attempts)
SELECT $1, u.update_id, u.payload, $2, u.sender_id,
       CASE WHEN u.go THEN $3::timestamptz END, CASE WHEN u.go THEN $4::varchar END, CASE WHEN u.go THEN 1 ELSE 0 END
FROM (
    SELECT v.update_id, v.payload, v.sender_id, v.take AND NOT EXISTS (
        SELECT 1 FROM update_inbox e
        WHERE e.bot_id = $1 AND e.sender_id = v.sender_id AND e.update_id < v.update_id
          AND e.handled_at IS NULL AND e.quarantined_at IS NULL
    ) AS go
    FROM unnest($5::bigint[], $6::text[], $7::bigint[], $8::boolean[]) AS v(update_id, payload, sender_id, take)
) AS u
ON CONFLICT (bot_id, update_id) DO NOTHING
RETURNING update_id, leased_by
"""
BATCH_MAX = 200


class PostgresIntake:
    """Concurrent POSTs are stored together: while one batch is being stored, the next gathers (a group commit), so
    under load a POST costs a share of one round trip; alone, it is stored at once."""

    def __init__(self, pool: Any, bot_id: int) -> None:
        self.pool, self.bot_id = pool, bot_id
        self._queue: list[tuple[int, str, int | None, str | None, datetime, asyncio.Future[bool]]] = []
        self._flushing: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, url: URL, bot_id: int, size: int) -> PostgresIntake:
        import asyncpg  # type: ignore[import-untyped]

        dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=size)
        return cls(pool, bot_id)

    async def receive(
        self, update_id: int, payload: str, sender: int | None, worker: str | None, until: datetime
    ) -> bool:
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.append((update_id, payload, sender, worker, until, done))
        if self._flushing is None:
            self._flushing = asyncio.create_task(self._flush())
        return await done

    async def _flush(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue[:BATCH_MAX], self._queue[BATCH_MAX:]
                try:
                    taken = await self._store(batch)
                except BaseException as exc:
                    for *_rest, done in batch:
                        if not done.done():
                            done.set_exception(exc if isinstance(exc, Exception) else RuntimeError("stopped"))
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for update_id, *_rest, done in batch:
                    if not done.done():
                        done.set_result(update_id in taken)
                        taken.discard(update_id)  # posted twice in one batch (a retry): run once
        finally:
            self._flushing = None

    async def _store(self, batch: list[Any]) -> set[int]:
        seen: set[int] = set()
        ids, payloads, senders, take = [], [], [], []
        worker, until = None, utcnow()
        for update_id, payload, sender, who, lease_until, _done in batch:
            ids.append(update_id)
            payloads.append(payload)
            senders.append(sender)
            first = sender is None or sender not in seen
            take.append(who is not None and first)
            if sender is not None:
                seen.add(sender)
            if who is not None:
                worker, until = who, lease_until
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                RECEIVE_BATCH, self.bot_id, utcnow(), until, (worker or "")[:64], ids, payloads, senders, take
            )
            taken = {int(r[0]) for r in rows if r[1] is not None}
            if len(taken) < len(batch):  # some wait: wake the workers (see Inbox.receive)
                await conn.execute("SELECT pg_notify($1, '')", INBOX_CHANNEL)
        return taken

    async def close(self) -> None:
        if self._flushing is not None:
            await asyncio.gather(self._flushing, return_exceptions=True)
        await self.pool.close()
