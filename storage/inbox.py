"""The update inbox: every fetched update is stored before Telegram is told it arrived, and marked
handled in the transaction of its own effects (see models.InboxUpdate).

Long polling confirms a batch when it asks for the next one, while the batch is still being handled;
a crash then would lose those updates for good. With the inbox, an update a crash cut off is handled
at the next start, and an update already handled (its effects committed) is never handled again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.domain.clock import utcnow
from storage.dialect import upsert_insert
from storage.hotpath import Latest, UpdateTx
from storage.models import InboxUpdate
from storage.uow import transaction


class Inbox:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], bot_id: int) -> None:
        self.sessionmaker = sessionmaker
        self.bot_id = bot_id
        self.recorded: set[int] = set()  # came through the inbox in this process, not taken yet
        bind = sessionmaker.kw.get("bind")
        insert = upsert_insert(bind)
        t = InboxUpdate.__table__
        self._insert = insert(t).on_conflict_do_nothing(index_elements=[t.c.bot_id, t.c.update_id])
        self._take = (
            update(t)
            .where(t.c.bot_id == bindparam("b_bot"), t.c.update_id == bindparam("b_update"), t.c.handled_at.is_(None))
            .values(handled_at=bindparam("b_at"))
        )

    async def record(self, updates: Sequence[tuple[int, str]]) -> None:
        """Store a fetched batch (its own transaction); an update stored before is left as it is."""
        if not updates:
            return
        now = utcnow()
        rows = [{"bot_id": self.bot_id, "update_id": i, "payload": p, "received_at": now} for i, p in updates]
        async with transaction(self.sessionmaker, urgent=True) as s:  # polling waits for it: before the updates
            await s.execute(self._insert, rows)
        self.recorded.update(i for i, _ in updates)

    async def take(self, tx: UpdateTx, update_id: int, now: datetime, row_key: str | None = None,
                   latest: Latest | None = None) -> bool | None:  # fmt: skip
        """In the update's transaction: True to handle it, False when it was handled already (also a second
        copy of it in the same batch), None when it did not come through the inbox (fed directly). `row_key`:
        the sender's conversation row, read in the same round trip (storage.fsm.SqlStorage.preload uses it);
        `latest`: on PostgreSQL, what the handler will ask of the sender's open deadlines, read there too.
        On PostgreSQL this only reads whether it was handled; the update is taken with its last writes, and the
        transaction raises HandledElsewhere if another process took it meanwhile (storage.hotpath._Postgres)."""
        recorded = update_id in self.recorded
        self.recorded.discard(update_id)
        sql = await tx.driver()
        if sql.late_take:  # PostgreSQL: is it handled? (taken with the update's last writes, see storage.hotpath)
            if row_key is not None:
                handled, version, tx.rows[row_key] = await sql.check_preload(self.bot_id, update_id, row_key, latest)
                tx.prefetched, tx.latest = (row_key, version), latest
            else:
                handled = await sql.check(self.bot_id, update_id)
            if handled is None:
                return None
            if handled:
                return False
            tx.late_take = (self.bot_id, update_id, now)
            return True
        if row_key is not None:
            took, version, tx.rows[row_key] = await sql.take_preload(self.bot_id, update_id, now, row_key)
            tx.prefetched = (row_key, version)
        else:
            took = await sql.take(self.bot_id, update_id, now)
        if took:
            return True
        if recorded:
            return False
        return False if await sql.exists(self.bot_id, update_id) else None

    async def mark_handled(self, update_id: int) -> None:
        """After a failure that rolled the update back: the person was told; do not run it again."""
        async with transaction(self.sessionmaker) as s:
            await s.execute(self._take, {"b_bot": self.bot_id, "b_update": update_id, "b_at": utcnow()})

    async def pending(self) -> list[tuple[int, str]]:
        """Updates stored but never handled (a crash cut them off), oldest first."""
        t = InboxUpdate.__table__
        q = (
            select(t.c.update_id, t.c.payload)
            .where(t.c.bot_id == self.bot_id, t.c.handled_at.is_(None))
            .order_by(t.c.update_id)
        )
        async with transaction(self.sessionmaker) as s:
            return [(int(r[0]), str(r[1])) for r in (await s.execute(q)).all()]

    async def prune(self, before: datetime) -> int:
        """Forget handled updates older than `before` (kept a while so a re-sent update is recognised)."""
        t = InboxUpdate.__table__
        async with transaction(self.sessionmaker) as s:
            result = await s.execute(delete(t).where(t.c.handled_at < before))
        return int(result.rowcount)  # type: ignore[attr-defined]
