"""Early warnings: the messages, one delivery row per recipient, and the sender's lease. Never commits."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.dialect import upsert_insert
from storage.models import DutyGroup, Lease, Unit, User, UserRole, Warning, WarningDelivery

D = WarningDelivery.__table__


class WarningRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def add(self, warning: Warning) -> Warning:
        self.s.add(warning)
        await self.s.flush()
        return warning

    async def get(self, warning_id: int) -> Warning | None:
        return await self.s.get(Warning, warning_id, populate_existing=True)

    async def get_for_update(self, warning_id: int) -> Warning | None:
        q = select(Warning).where(Warning.id == warning_id).with_for_update()
        return (await self.s.scalars(q.execution_options(populate_existing=True))).first()

    async def by_number(self, number: str) -> Warning | None:
        return (await self.s.scalars(select(Warning).where(Warning.number == number.strip().upper()))).first()

    async def by_token(self, author_id: int, token: str) -> Warning | None:
        q = select(Warning).where(Warning.author_id == author_id, Warning.draft_token == token)
        return (await self.s.scalars(q)).first()

    async def chain(self, root_id: int) -> Sequence[Warning]:
        """A warning's messages, oldest first: the issue, its adjustments, its lift."""
        q = select(Warning).where(or_(Warning.id == root_id, Warning.root_id == root_id)).order_by(Warning.id)
        return (await self.s.scalars(q.execution_options(populate_existing=True))).all()

    async def pending_in(self, root_id: int) -> Warning | None:
        """An adjustment of this warning waiting for approval."""
        q = select(Warning).where(Warning.root_id == root_id, Warning.state == "pending")
        return (await self.s.scalars(q)).first()

    async def roots(self, since: datetime, limit: int = 50) -> Sequence[Warning]:
        """Warnings issued (or waiting to be) since `since`, newest first."""
        q = (
            select(Warning)
            .where(Warning.root_id.is_(None), Warning.created_at >= since, Warning.state != "rejected")
            .order_by(Warning.id.desc())
            .limit(limit)
        )
        return (await self.s.scalars(q)).all()

    async def publishers(self, exclude_user_id: int) -> Sequence[User]:
        q = (
            select(User)
            .join(UserRole)
            .where(UserRole.role == "publisher", User.active.is_(True), User.id != exclude_user_id)
            .order_by(User.id)
        )
        return (await self.s.scalars(q)).unique().all()

    async def people_in(self, unit_ids: Iterable[int], roles: Sequence[str]) -> list[tuple[int, int, int, str | None]]:
        """Active people of these units (with one of `roles`, or any): (telegram id, user id, unit id, locale)."""
        q = select(User.telegram_id, User.id, User.unit_id, User.locale).where(
            User.unit_id.in_(list(unit_ids)), User.active.is_(True)
        )
        if roles:
            q = q.where(User.id.in_(select(UserRole.user_id).where(UserRole.role.in_(list(roles)))))
        rows = (await self.s.execute(q.order_by(User.id))).all()
        return [(int(r[0]), int(r[1]), int(r[2]), r[3]) for r in rows]

    async def groups_of(self, unit_ids: Iterable[int]) -> list[tuple[int, int]]:
        """Duty groups bound to these units: (chat id, unit id)."""
        q = select(DutyGroup.chat_id, DutyGroup.unit_id).where(DutyGroup.unit_id.in_(list(unit_ids)))
        return [(int(r[0]), int(r[1])) for r in (await self.s.execute(q.order_by(DutyGroup.chat_id))).all()]

    async def add_deliveries(self, warning_id: int, rank: int, rows: Sequence[dict[str, Any]]) -> None:
        """One queued delivery per recipient (chat_id, user_id, unit_id, locale), in one statement."""
        if rows:
            values = [
                {"warning_id": warning_id, "rank": rank, "state": "queued", "attempts": 0, "remind_steps": 0, **r}
                for r in rows
            ]
            await self.s.execute(insert(D), values)

    async def recipients_of(self, warning_id: int) -> list[dict[str, Any]]:
        """Whom a warning message went to (an adjustment or a lift goes to the same chats)."""
        q = select(D.c.chat_id, D.c.user_id, D.c.unit_id, D.c.locale).where(
            D.c.warning_id == warning_id, D.c.state != "unreachable"
        )
        return [dict(r._mapping) for r in (await self.s.execute(q.order_by(D.c.id))).all()]

    async def counts(self, warning_id: int) -> dict[str, int]:
        """Deliveries by state, and how many were confirmed received."""
        q = select(D.c.state, func.count(), func.count(D.c.received_at)).where(D.c.warning_id == warning_id)
        out: dict[str, int] = {"received": 0}
        for state, n, received in (await self.s.execute(q.group_by(D.c.state))).all():
            out[str(state)] = int(n)
            out["received"] += int(received)
        return out

    async def unconfirmed_units(self, warning_id: int, limit: int = 30) -> list[tuple[str, int]]:
        """Units with delivered but unconfirmed recipients: (unit name, how many), most first."""
        q = (
            select(Unit.name, func.count())
            .select_from(D.join(Unit, Unit.id == D.c.unit_id))
            .where(D.c.warning_id == warning_id, D.c.state == "sent", D.c.received_at.is_(None))
            .group_by(Unit.name)
            .order_by(func.count().desc(), Unit.name)
            .limit(limit)
        )
        return [(str(r[0]), int(r[1])) for r in (await self.s.execute(q)).all()]

    async def delivery(self, delivery_id: int) -> WarningDelivery | None:
        return await self.s.get(WarningDelivery, delivery_id, populate_existing=True)

    async def mark_received(self, delivery_id: int, telegram_id: int, at: datetime) -> bool:
        """The first 收到 counts; True when this tap recorded it."""
        result = await self.s.execute(
            update(D)
            .where(D.c.id == delivery_id, D.c.received_at.is_(None))
            .values(received_at=at, received_by=telegram_id, remind_at=None)
        )
        return bool(getattr(result, "rowcount", 0))

    async def migrate_chat(self, old_chat_id: int, new_chat_id: int) -> None:
        await self.s.execute(update(D).where(D.c.chat_id == old_chat_id).values(chat_id=new_chat_id))

    # ---- the sender ---------------------------------------------------------------------------
    async def next_queued(self, now: datetime, limit: int, skip: Iterable[int] = ()) -> list[dict[str, Any]]:
        """Deliveries to send next: red before orange before yellow before blue, then oldest warning first."""
        q = (
            select(D.c.id, D.c.warning_id, D.c.chat_id, D.c.locale, D.c.attempts)
            .where(D.c.state == "queued", or_(D.c.next_at.is_(None), D.c.next_at <= now))
            .order_by(D.c.rank, D.c.warning_id, D.c.id)
            .limit(limit)
        )
        skip = list(skip)
        if skip:
            q = q.where(D.c.id.not_in(skip))
        return [dict(r._mapping) for r in (await self.s.execute(q)).all()]

    async def queued_total(self) -> int:
        """Deliveries waiting to be sent, of every warning."""
        return int(await self.s.scalar(select(func.count()).select_from(D).where(D.c.state == "queued")) or 0)

    async def next_retry_at(self) -> datetime | None:
        q = select(func.min(D.c.next_at)).where(D.c.state == "queued", D.c.next_at.is_not(None))
        found: datetime | None = await self.s.scalar(q)
        return found

    _record = (
        update(D)
        .where(D.c.id == bindparam("b_id"), D.c.state == "queued")
        .values(
            state=bindparam("b_state"),
            attempts=bindparam("b_attempts"),
            next_at=bindparam("b_next_at"),
            message_id=bindparam("b_message_id"),
            chat_id=bindparam("b_chat_id"),
            sent_at=bindparam("b_sent_at"),
            error=bindparam("b_error"),
            remind_at=bindparam("b_remind_at"),
        )
    )

    async def record(self, results: Sequence[dict[str, Any]]) -> None:
        """What Telegram answered, for many deliveries in one statement (only a queued row changes)."""
        if results:
            await self.s.execute(self._record, [{f"b_{k}": v for k, v in r.items()} for r in results])

    async def unfinished(self, warning_ids: Iterable[int]) -> dict[int, int]:
        """Queued deliveries left per warning."""
        ids = list(warning_ids)
        if not ids:
            return {}
        q = select(D.c.warning_id, func.count()).where(D.c.warning_id.in_(ids), D.c.state == "queued")
        return {int(r[0]): int(r[1]) for r in (await self.s.execute(q.group_by(D.c.warning_id))).all()}

    async def set_progress(self, warning_id: int, chat_id: int, message_id: int) -> None:
        await self.s.execute(
            update(Warning)
            .where(Warning.id == warning_id)
            .values(progress_chat_id=chat_id, progress_message_id=message_id)
        )

    async def finish(self, warning_id: int, at: datetime) -> None:
        await self.s.execute(
            update(Warning).where(Warning.id == warning_id, Warning.finished_at.is_(None)).values(finished_at=at)
        )

    # ---- receipts -----------------------------------------------------------------------------
    async def claim_receipts(self, now: datetime, limit: int) -> Sequence[WarningDelivery]:
        """Delivered, unconfirmed deliveries whose next receipt step is due, locked (another scheduler skips)."""
        q = (
            select(WarningDelivery)
            .where(WarningDelivery.remind_at <= now)
            .order_by(WarningDelivery.remind_at, WarningDelivery.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return (await self.s.scalars(q.execution_options(populate_existing=True))).all()

    async def next_remind_at(self) -> datetime | None:
        return await self.s.scalar(select(func.min(WarningDelivery.remind_at)))


class LeaseRepo:
    """A named lease, taken when free or expired, renewed by its holder."""

    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def take(self, name: str, holder: str, now: datetime, until: datetime) -> bool:
        """Take or renew the lease; False while another holder's lease runs."""
        t = Lease.__table__
        result = await self.s.execute(
            update(t)
            .where(t.c.name == name, or_(t.c.holder == holder, t.c.holder.is_(None), t.c.expires_at < now))
            .values(holder=holder, expires_at=until)
        )
        if getattr(result, "rowcount", 0):
            return True
        exists = await self.s.scalar(select(t.c.name).where(t.c.name == name))
        if exists is not None:
            return False
        stmt = upsert_insert(self.s)(t).values(name=name, holder=holder, expires_at=until)
        await self.s.execute(stmt.on_conflict_do_nothing(index_elements=[t.c.name]))
        holder_now = await self.s.scalar(select(t.c.holder).where(t.c.name == name))
        return bool(holder_now == holder)

    async def release(self, name: str, holder: str) -> None:
        t = Lease.__table__
        await self.s.execute(update(t).where(t.c.name == name, t.c.holder == holder).values(holder=None))

    async def holder(self, name: str) -> tuple[str | None, datetime | None]:
        t = Lease.__table__
        row = (await self.s.execute(select(t.c.holder, t.c.expires_at).where(t.c.name == name))).first()
        return (row[0], row[1]) if row else (None, None)
