"""The outbox: what an update decided to send is stored in its transaction and deleted once Telegram
accepted it (see models.OutboxMessage). Deletions are batched: a background job forgets sent rows every
few seconds, and a stop forgets them all, so only a crash can leave a row that was already sent (it is
then sent twice, which beats never). A row Telegram did not accept (a long outage, flood control over
the cap) stays, and the retry job sends it later; rows being sent right now are never retried.

Several processes (webhook workers) share the table: a row is leased (`leased_until`) to the process that stored it
while it sends it, the lease renewed every third of its length (`renew`; a send waiting on Telegram's limits is slow,
not dead), and the retry job of any process takes only rows whose lease ran out (or that their process gave back:
`release`), leasing them in turn while it sends. So a row one process is still sending is never sent again by
another's retry job or start-up pass, and the rows of a process that died are sent by another one lease after its last
renewal."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.domain.clock import utcnow
from storage.dialect import dialect_of, one_of, one_of_value
from storage.models import OutboxMessage
from storage.uow import transaction
from storage.update import UpdateTx

T = OutboxMessage.__table__
HOLD = timedelta(seconds=30)  # the default lease (WEBHOOK_LEASE_SECONDS)
Row = tuple[int, datetime, str]  # a stored message: id, when it was stored, its payload


class OutboxStore:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], hold: timedelta = HOLD) -> None:
        self.sessionmaker = sessionmaker
        self.hold = hold  # how long a process keeps its rows to itself after storing (or renewing) them
        self._released: list[int] = []  # given back (not accepted now): their lease is cleared at the next claim
        self._sent: list[int] = []
        self.in_flight: set[int] = set()  # stored by an update of this process, not sent yet
        self.retrying: set[int] = set()  # taken by this process's retry job, being sent
        self._insert = insert(T).returning(T.c.id, sort_by_parameter_order=True)

    async def save(self, session: AsyncSession, payloads: Sequence[str]) -> list[int]:
        """In a session's transaction: store the messages; returns their ids (in the payloads' order)."""
        if not payloads:
            return []
        now = utcnow()
        rows = [{"payload": p, "created_at": now, "leased_until": now + self.hold} for p in payloads]
        result = await session.execute(self._insert, rows)
        return self._taken([int(row[0]) for row in result.all()])

    async def save_in(self, tx: UpdateTx, payloads: Sequence[str]) -> list[int]:
        """In an update's transaction: the same as `save`, stored with the transaction's last writes (on
        PostgreSQL in the round trip that writes the conversation row). The list returned holds the ids once they
        are stored, before the commit."""
        return tx.store_outbox(payloads, self._taken, utcnow() + self.hold)

    def _taken(self, ids: list[int]) -> list[int]:
        self.in_flight.update(ids)
        return ids

    def sent(self, ids: Sequence[int]) -> None:
        """Telegram accepted these (or refused them for good: blocked, bad request): forget them soon."""
        self.in_flight.difference_update(ids)
        self._sent.extend(ids)

    def release(self, ids: Sequence[int]) -> None:
        """Telegram did not accept these now (or the commit failed): the retry job (of any process) may take them."""
        self.in_flight.difference_update(ids)
        self._released.extend(ids)

    async def claim(self, now: datetime, hold: timedelta, everything: bool = False, limit: int = 500) -> list[Row]:
        """The retry job's take: stored rows nobody holds (their lease ran out, or their process gave them back),
        oldest first, each leased to this process for `hold`; `everything`: every row, held or not (the start of
        the one polling process, when nobody else can be sending). On PostgreSQL processes skip each other's rows."""
        released, self._released = self._released, []
        async with transaction(self.sessionmaker) as s:
            name = dialect_of(s).name
            if released:
                await s.execute(
                    update(T).where(one_of(T.c.id, "ids", name)).values(leased_until=None),
                    {"ids": one_of_value(released, name)},
                )
            free = select(T.c.id).order_by(T.c.id).limit(limit)
            if not everything:
                free = free.where(or_(T.c.leased_until.is_(None), T.c.leased_until < now))
            if name == "postgresql":
                free = free.with_for_update(skip_locked=True)
            result = await s.execute(
                update(T)
                .where(T.c.id.in_(free.scalar_subquery()))
                .values(leased_until=now + hold)
                .returning(T.c.id, T.c.created_at, T.c.payload)
            )
            rows = sorted((int(r[0]), r[1], str(r[2])) for r in result.all())
        return rows

    async def renew(self) -> int:
        """Keep the rows this process is sending (every third of `hold`): their lease runs on from now."""
        ids = sorted(self.in_flight | self.retrying)
        await self.hold_until(ids, utcnow() + self.hold)
        return len(ids)

    async def depth(self) -> int:
        """Answers stored and not sent (or sent and not forgotten yet)."""
        async with transaction(self.sessionmaker) as s:
            return int(await s.scalar(select(func.count()).select_from(T)) or 0)

    async def hold_until(self, ids: Sequence[int], at: datetime) -> None:
        """Keep rows the retry job could not send until `at` (then any process tries them again)."""
        if ids:
            async with transaction(self.sessionmaker) as s:
                name = dialect_of(s).name
                await s.execute(
                    update(T).where(one_of(T.c.id, "ids", name)).values(leased_until=at),
                    {"ids": one_of_value(ids, name)},
                )

    def busy(self) -> set[int]:
        """Rows the retry job must leave alone: being sent, or sent and about to be forgotten."""
        return self.in_flight | set(self._sent)

    async def forget_sent(self) -> int:
        ids, self._sent = self._sent, []
        try:
            await self.forget(ids)
        except Exception:
            self._sent[:0] = ids  # try again next time, or they would be sent again at the next start
            raise
        return len(ids)

    async def left_over(self) -> list[tuple[int, datetime, str]]:
        """What a previous run stored and did not forget (a crash), oldest first."""
        async with transaction(self.sessionmaker) as s:
            rows = (await s.execute(select(T.c.id, T.c.created_at, T.c.payload).order_by(T.c.id))).all()
        return [(int(r[0]), r[1], str(r[2])) for r in rows]

    async def forget(self, ids: Sequence[int]) -> None:
        if ids:
            async with transaction(self.sessionmaker) as s:
                name = dialect_of(s).name
                await s.execute(self._forget(name), {"ids": one_of_value(ids, name)})

    @staticmethod
    @cache
    def _forget(dialect_name: str) -> Any:
        return delete(T).where(one_of(T.c.id, "ids", dialect_name))  # (one statement, whatever the count)
