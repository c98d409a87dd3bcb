"""People and their roles."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    User,
    UserRole,
)


class UserRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def get(self, user_id: int) -> User | None:
        return await self.s.get(User, user_id)

    _by_telegram_id = select(User).where(User.telegram_id == bindparam("telegram_id"))

    async def by_telegram_id(self, telegram_id: int) -> User | None:
        """The user behind a Telegram account (runs on every update: one prebuilt statement)."""
        result = await self.s.execute(self._by_telegram_id, {"telegram_id": telegram_id})
        return result.unique().scalar_one_or_none()

    async def add(self, telegram_id: int, name: str, unit_id: int, roles: set[str], phone: str | None = None) -> User:
        user = User(telegram_id=telegram_id, name=name, unit_id=unit_id, phone=phone, active=True)
        user.role_rows = [UserRole(role=r) for r in sorted(roles)]
        self.s.add(user)
        await self.s.flush()
        return user

    async def set_roles(self, user: User, roles: set[str]) -> None:
        await self.s.execute(delete(UserRole).where(UserRole.user_id == user.id))
        user.role_rows = [UserRole(user_id=user.id, role=r) for r in sorted(roles)]
        await self.s.flush()

    async def list(self, unit_id: int | None = None) -> Sequence[User]:
        q = select(User).order_by(User.id)
        if unit_id is not None:
            q = q.where(User.unit_id == unit_id)
        return (await self.s.scalars(q)).unique().all()

    async def with_role(self, unit_id: int, role: str) -> Sequence[User]:
        q = (
            select(User)
            .join(UserRole)
            .where(User.unit_id == unit_id, UserRole.role == role, User.active.is_(True))
            .order_by(User.id)
        )
        return (await self.s.scalars(q)).unique().all()
