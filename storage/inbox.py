"""The update inbox: every fetched update is stored before Telegram is told it arrived, and marked
handled in the transaction of its own effects (see models.InboxUpdate).

Long polling confirms a batch when it asks for the next one, while the batch is still being handled;
a crash then would lose those updates for good. With the inbox, an update a crash cut off is handled
at the next start, and an update already handled (its effects committed) is never handled again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Boolean, and_, bindparam, case, cast, delete, func, literal, null, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.domain.clock import utcnow
from storage import driversql
from storage.dialect import dialect_of, one_of, one_of_value, upsert_insert
from storage.models import InboxUpdate
from storage.uow import transaction

log = logging.getLogger(__name__)

# the PostgreSQL channel a stored update is announced on (webhook workers LISTEN)
INBOX_CHANNEL = "kuaibao_inbox"


@dataclass(frozen=True)
class Claimed:
    """A stored update a worker took: its id, as Telegram sent it, and how many runs it had (this one included)."""

    update_id: int
    payload: str
    runs: int


@dataclass(frozen=True)
class Quarantined:
    update_id: int
    received_at: datetime
    quarantined_at: datetime
    attempts: int
    error: str | None
    payload: str


def receive_values(
    bot_id: int, update_id: int, payload: str, sender: int | None, worker: str | None, until: datetime, now: datetime
) -> dict[str, Any]:
    """receive_statement's parameters."""
    return {
        "r_bot": bot_id,
        "r_update": update_id,
        "r_payload": payload,
        "r_at": now,
        "r_sender": sender,
        "r_take": worker is not None,
        "r_worker": (worker or "")[:64],
        "r_until": until,
    }


@cache
def receive_statement(dialect_name: str) -> Any:
    """INSERT one update, leased to the worker that received it when it may run now (see Inbox.receive); RETURNING
    the holder. On PostgreSQL the values a CASE yields are cast: a parameter there has no type to infer."""
    t = InboxUpdate.__table__
    e = t.alias("e")
    earlier = (
        select(literal(1))
        .where(
            e.c.bot_id == bindparam("r_bot"),
            e.c.sender_id == bindparam("r_sender"),
            e.c.update_id < bindparam("r_update"),
            e.c.handled_at.is_(None),
            e.c.quarantined_at.is_(None),
        )
        .exists()
    )
    now = and_(bindparam("r_take", type_=Boolean), ~earlier)

    def typed(param: str, column: Any) -> Any:
        value = bindparam(param, type_=column.type)
        return cast(value, column.type) if dialect_name == "postgresql" else value

    insert = pg_insert if dialect_name == "postgresql" else sqlite_insert
    return (
        insert(t)
        .values(
            bot_id=bindparam("r_bot"),
            update_id=bindparam("r_update"),
            payload=bindparam("r_payload"),
            received_at=bindparam("r_at"),
            sender_id=bindparam("r_sender"),
            leased_until=case((now, typed("r_until", t.c.leased_until)), else_=null()),
            leased_by=case((now, typed("r_worker", t.c.leased_by)), else_=null()),
            attempts=case((now, 1), else_=0),
        )
        .on_conflict_do_nothing(index_elements=[t.c.bot_id, t.c.update_id])
        .returning(t.c.leased_by)
    )


class Inbox:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], bot_id: int) -> None:
        self.sessionmaker = sessionmaker
        self.bot_id = bot_id
        # came through the inbox in this process, not taken yet (an update is taken by its transaction's first read,
        # storage.update.UpdateTx.begin)
        self.recorded: set[int] = set()
        bind = sessionmaker.kw.get("bind")
        insert = upsert_insert(bind)
        t = InboxUpdate.__table__
        self._insert = insert(t).on_conflict_do_nothing(index_elements=[t.c.bot_id, t.c.update_id])
        self._take = (
            update(t)
            .where(t.c.bot_id == bindparam("b_bot"), t.c.update_id == bindparam("b_update"), t.c.handled_at.is_(None))
            .values(handled_at=bindparam("b_at"))
        )

    async def record(self, updates: Sequence[tuple[int, str, int | None]]) -> None:
        """Long polling: store a fetched batch, (update id, payload, sender) each, in a transaction of its own; an
        update stored before is left as it is. (Webhook workers store each update with `receive`.)"""
        if not updates:
            return
        now = utcnow()
        rows = [
            {"bot_id": self.bot_id, "update_id": i, "payload": p, "received_at": now, "sender_id": sender}
            for i, p, sender in updates
        ]
        async with transaction(self.sessionmaker, urgent=True) as s:  # polling waits for it: before the updates
            await s.execute(self._insert, rows)
        self.recorded.update(i for i, _, _ in updates)

    async def receive(
        self, update_id: int, payload: str, sender: int | None, worker: str | None, until: datetime
    ) -> bool:
        """Webhook mode: store one update Telegram posted, and take it for `worker` at once (leased to `until`, its
        first run counted) when its sender has no earlier update waiting; one statement, committed as it returns.
        True: this worker holds it now and runs it. False: it waits for a worker's claim, because an earlier update of
        the same person comes first (that update's worker takes it when done), the worker has no room (None), or it
        was stored before (Telegram sent it again). Other workers are told with NOTIFY when it waits."""
        values = receive_values(self.bot_id, update_id, payload, sender, worker, until, utcnow())
        async with transaction(self.sessionmaker, urgent=True) as s:
            name = dialect_of(s).name
            rows = await driversql.run(s, receive_statement(name), values, alone=True)
            taken = bool(rows) and rows[0][0] is not None
            if not taken and name == "postgresql":
                await s.execute(text("SELECT pg_notify(:channel, '')"), {"channel": INBOX_CHANNEL})
        return taken

    async def close(self) -> None:
        """(An Intake: the inbox's connections are the bot's.)"""

    async def listen(self, on_new: Callable[[], None]) -> None:
        """PostgreSQL: call `on_new` whenever an update is stored (by any worker), until cancelled; the connection
        is made again when it drops (workers also look every few seconds, so a gap delays, never loses)."""
        engine: AsyncEngine = self.sessionmaker.kw["bind"]
        if engine.dialect.name != "postgresql":
            return
        while True:
            try:
                async with engine.connect() as conn:
                    driver = (await conn.get_raw_connection()).driver_connection
                    assert driver is not None
                    closed = asyncio.Event()

                    def notified(*_args: object) -> None:
                        on_new()

                    driver.add_termination_listener(lambda _conn, closed=closed: closed.set())
                    await driver.add_listener(INBOX_CHANNEL, notified)
                    try:
                        await closed.wait()
                    finally:
                        if not driver.is_closed():
                            await driver.remove_listener(INBOX_CHANNEL, notified)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("listening for new updates failed; trying again", exc_info=True)
            await asyncio.sleep(1.0)

    async def claim(self, worker: str, limit: int, lease: timedelta, now: datetime) -> list[Claimed]:
        """Webhook workers: take up to `limit` stored updates to run, each the oldest one waiting of its sender (one
        person's updates run one at a time, in the order Telegram numbered them, whichever worker takes them), none
        held by another worker (a lease: a worker that died lets go of its updates when it runs out), none set aside.
        Each take counts as a run (`attempts`); on PostgreSQL workers skip each other's rows (SKIP LOCKED)."""
        t = InboxUpdate.__table__
        c, e = t.alias("c"), t.alias("e")
        earlier = (
            select(literal(1))
            .where(
                e.c.bot_id == c.c.bot_id,
                e.c.sender_id == c.c.sender_id,
                e.c.update_id < c.c.update_id,
                e.c.handled_at.is_(None),
                e.c.quarantined_at.is_(None),
            )
            .exists()
        )
        free = (
            select(c.c.update_id)
            .where(
                c.c.bot_id == self.bot_id,
                c.c.handled_at.is_(None),
                c.c.quarantined_at.is_(None),
                or_(c.c.leased_until.is_(None), c.c.leased_until < now),
                ~earlier,
            )
            .order_by(c.c.update_id)
            .limit(limit)
        )
        async with transaction(self.sessionmaker) as s:
            if dialect_of(s).name == "postgresql":
                free = free.with_for_update(skip_locked=True)
            result = await s.execute(
                update(t)
                .where(t.c.bot_id == self.bot_id, t.c.update_id.in_(free.scalar_subquery()))
                .values(leased_until=now + lease, leased_by=worker[:64], attempts=t.c.attempts + 1)
                .returning(t.c.update_id, t.c.payload, t.c.attempts)
            )
            rows = sorted((int(r[0]), str(r[1]), int(r[2])) for r in result.all())
        return [Claimed(*row) for row in rows]

    async def depth(self, now: datetime) -> tuple[int, float]:
        """Stored updates not handled (nor set aside), and the age in seconds of the oldest of them (0: none)."""
        t = InboxUpdate.__table__
        q = select(func.count(), func.min(t.c.received_at)).where(
            t.c.bot_id == self.bot_id, t.c.handled_at.is_(None), t.c.quarantined_at.is_(None)
        )
        async with transaction(self.sessionmaker) as s:
            count, oldest = (await s.execute(q)).one()
        return int(count), (now - oldest).total_seconds() if oldest is not None else 0.0

    async def renew(self, worker: str, update_ids: Sequence[int], until: datetime) -> None:
        """Keep holding the updates this worker is still running (a slow send is no death): their lease now runs to
        `until`. A worker that died renews nothing, so its updates come free one lease after its last renewal."""
        if not update_ids:
            return
        t = InboxUpdate.__table__
        async with transaction(self.sessionmaker) as s:
            name = dialect_of(s).name
            await s.execute(
                update(t)
                .where(
                    t.c.bot_id == self.bot_id,
                    t.c.leased_by == worker[:64],
                    t.c.handled_at.is_(None),
                    one_of(t.c.update_id, "ids", name),
                )
                .values(leased_until=until),
                {"ids": one_of_value(list(update_ids), name)},
            )

    async def let_go(self, worker: str) -> int:
        """A worker that stops gracefully gives back what it took and did not run (another worker takes it now)."""
        t = InboxUpdate.__table__
        async with transaction(self.sessionmaker) as s:
            result = await s.execute(
                update(t)
                .where(t.c.bot_id == self.bot_id, t.c.leased_by == worker[:64], t.c.handled_at.is_(None))
                .values(leased_until=None, leased_by=None, attempts=t.c.attempts - 1)
            )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def mark_handled(self, update_id: int, error: str | None = None) -> None:
        """After a failure that rolled the update back: the person was told; do not run it again (what went wrong is
        kept with it, for the operator)."""
        t = InboxUpdate.__table__
        async with transaction(self.sessionmaker) as s:
            await s.execute(self._take, {"b_bot": self.bot_id, "b_update": update_id, "b_at": utcnow()})
            if error is not None:
                await s.execute(
                    update(t)
                    .where(t.c.bot_id == self.bot_id, t.c.update_id == update_id)
                    .values(attempts=t.c.attempts + 1, error=error[:500])
                )

    async def last_update_id(self) -> int:
        """The highest update id stored for this bot (0: none): where a Bot API stand-in that lost its count goes on
        from, so its updates are not taken for ones already handled (the sandbox)."""
        t = InboxUpdate.__table__
        async with transaction(self.sessionmaker) as s:
            found = await s.scalar(select(func.max(t.c.update_id)).where(t.c.bot_id == self.bot_id))
        return int(found or 0)

    async def pending(self, released: bool = False) -> list[tuple[int, str, int]]:
        """Updates stored but never handled (a crash cut them off) nor set aside, oldest first: (update id, payload,
        how many runs of it were cut off so far). `released`: only those an operator released from quarantine."""
        t = InboxUpdate.__table__
        q = (
            select(t.c.update_id, t.c.payload, t.c.attempts)
            .where(t.c.bot_id == self.bot_id, t.c.handled_at.is_(None), t.c.quarantined_at.is_(None))
            .order_by(t.c.update_id)
        )
        if released:
            q = q.where(t.c.released_at.is_not(None))
        async with transaction(self.sessionmaker) as s:
            return [(int(r[0]), str(r[1]), int(r[2])) for r in (await s.execute(q)).all()]

    async def count_attempt(self, update_id: int) -> None:
        """Committed before a run of a stored update starts: a crash during the run is counted."""
        t = InboxUpdate.__table__
        async with transaction(self.sessionmaker) as s:
            await s.execute(
                update(t).where(t.c.bot_id == self.bot_id, t.c.update_id == update_id).values(attempts=t.c.attempts + 1)
            )

    async def quarantine(self, update_id: int, error: str, at: datetime) -> None:
        """Set a stored update aside: never run again unless an operator releases it (`admin quarantine`)."""
        t = InboxUpdate.__table__
        async with transaction(self.sessionmaker) as s:
            await s.execute(
                update(t)
                .where(t.c.bot_id == self.bot_id, t.c.update_id == update_id)
                .values(quarantined_at=at, error=error[:500])
            )

    async def quarantined(self) -> list[Quarantined]:
        """Every update set aside, oldest first."""
        t = InboxUpdate.__table__
        q = (
            select(t.c.update_id, t.c.received_at, t.c.quarantined_at, t.c.attempts, t.c.error, t.c.payload)
            .where(t.c.bot_id == self.bot_id, t.c.quarantined_at.is_not(None), t.c.handled_at.is_(None))
            .order_by(t.c.update_id)
        )
        async with transaction(self.sessionmaker) as s:
            return [Quarantined(int(r[0]), r[1], r[2], int(r[3]), r[4], str(r[5])) for r in (await s.execute(q)).all()]

    async def release(self, update_id: int) -> bool:
        """An operator's retry: the update runs again (the running bot picks it up), its count starts over."""
        t = InboxUpdate.__table__
        async with transaction(self.sessionmaker) as s:
            result = await s.execute(
                update(t)
                .where(
                    t.c.bot_id == self.bot_id,
                    t.c.update_id == update_id,
                    t.c.quarantined_at.is_not(None),
                    t.c.handled_at.is_(None),
                )
                .values(quarantined_at=None, attempts=0, released_at=utcnow())
            )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def drop(self, update_id: int, at: datetime) -> bool:
        """An operator's drop: the update is taken as handled without running it (kept a while like any other)."""
        t = InboxUpdate.__table__
        async with transaction(self.sessionmaker) as s:
            result = await s.execute(
                update(t)
                .where(
                    t.c.bot_id == self.bot_id,
                    t.c.update_id == update_id,
                    t.c.quarantined_at.is_not(None),
                    t.c.handled_at.is_(None),
                )
                .values(handled_at=at)
            )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def prune(self, before: datetime) -> int:
        """Forget handled updates older than `before` (kept a while so a re-sent update is recognised)."""
        t = InboxUpdate.__table__
        async with transaction(self.sessionmaker) as s:
            result = await s.execute(delete(t).where(t.c.handled_at < before))
        return int(result.rowcount)  # type: ignore[attr-defined]
