"""Invitations to register."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Invite,
)


class InviteRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def add(self, code: str, unit_id: int, role: str, expires_at: datetime) -> Invite:
        invite = Invite(code=code, unit_id=unit_id, role=role, expires_at=expires_at)
        self.s.add(invite)
        await self.s.flush()
        return invite

    async def get_for_update(self, code: str) -> Invite | None:
        return await self.s.scalar(select(Invite).where(Invite.code == code).with_for_update())
