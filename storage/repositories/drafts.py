"""Form drafts, kept in the conversation state rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    FsmRecord,
)


class DraftRepo:
    """Form drafts, kept in the conversation state rows (storage/fsm.py)."""

    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def untouched(self, states: Sequence[str], before: datetime) -> Sequence[FsmRecord]:
        """Drafts last changed before `before`, locked for this transaction (others skip them)."""
        q = (
            select(FsmRecord)
            .where(FsmRecord.state.in_(states), FsmRecord.updated_at < before)
            .with_for_update(skip_locked=True)
        )
        return (await self.s.scalars(q)).all()

    async def delete(self, key: str) -> None:
        await self.s.execute(delete(FsmRecord).where(FsmRecord.key == key))
