"""The outbox: what an update decided to send is stored in its transaction and deleted once sent
(see models.OutboxMessage). Deletions are batched: a background job forgets sent rows every few
seconds, and a stop forgets them all, so only a crash can leave a row that was already sent (it is
then sent twice, which beats never)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.domain.clock import utcnow
from storage.models import OutboxMessage
from storage.uow import transaction

T = OutboxMessage.__table__


class OutboxStore:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker
        self._sent: list[int] = []
        self._insert = insert(T).returning(T.c.id, sort_by_parameter_order=True)

    async def save(self, session: AsyncSession, payloads: Sequence[str]) -> list[int]:
        """In the update's transaction: store the messages; returns their ids."""
        if not payloads:
            return []
        now = utcnow()
        result = await session.execute(self._insert, [{"payload": p, "created_at": now} for p in payloads])
        return [int(row[0]) for row in result.all()]

    def sent(self, ids: Sequence[int]) -> None:
        """These went out (or failed for good after the notifier's retries): forget them soon."""
        self._sent.extend(ids)

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
                await s.execute(delete(T).where(T.c.id.in_(ids)))
