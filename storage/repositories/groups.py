"""Duty groups: the chats bound to a unit."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.clock import utcnow
from storage.models import (
    DutyGroup,
    WarningDelivery,
)


class DutyGroupRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def for_unit(self, unit_id: int) -> DutyGroup | None:
        return await self.s.scalar(select(DutyGroup).where(DutyGroup.unit_id == unit_id))

    async def all(self) -> Sequence[DutyGroup]:
        return (await self.s.scalars(select(DutyGroup).order_by(DutyGroup.unit_id))).all()

    async def by_chat(self, chat_id: int) -> DutyGroup | None:
        return await self.s.get(DutyGroup, chat_id)

    async def bind(self, chat_id: int, unit_id: int, title: str | None, bound_by: int | None) -> DutyGroup:
        """Make chat_id the duty group of unit_id, replacing earlier bindings of either."""
        await self.s.execute(delete(DutyGroup).where((DutyGroup.unit_id == unit_id) | (DutyGroup.chat_id == chat_id)))
        group = DutyGroup(chat_id=chat_id, unit_id=unit_id, title=title, bound_by=bound_by, bound_at=utcnow())
        self.s.add(group)
        await self.s.flush()
        return group

    async def learn_title(self, chat_id: int, title: str | None) -> None:
        """Keep the group's title as Telegram gave it, when the binding had none (bound from the CLI)."""
        if title:
            await self.s.execute(
                update(DutyGroup).where(DutyGroup.chat_id == chat_id, DutyGroup.title.is_(None)).values(title=title)
            )

    async def migrate_chat(self, old_chat_id: int, new_chat_id: int) -> None:
        group = await self.by_chat(old_chat_id)
        if group is not None:
            unit_id, title, bound_by = group.unit_id, group.title, group.bound_by
            await self.s.delete(group)
            await self.s.flush()
            await self.bind(new_chat_id, unit_id, title, bound_by)
        # early-warning recipients: the rows still to send go to the new chat, and receipts stay found
        await self.s.execute(
            update(WarningDelivery).where(WarningDelivery.chat_id == old_chat_id).values(chat_id=new_chat_id)
        )
