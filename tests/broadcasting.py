"""Many recipients for early-warning broadcasts, and a warning published straight through the use case
(the tests and the benchmark of delivery at scale; the form has its own tests)."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.domain.clock import utcnow
from bot.usecases.common import Config
from bot.usecases.onboarding import add_unit, add_user
from bot.usecases.warnings import WarningFiled, submit_warning
from storage.models import DutyGroup, Unit, User
from storage.uow import transaction, unit_of_work

PUBLISHER = 9000
FIRST_PERSON = 500_000
FIRST_GROUP = -1_000_500_000


async def seed_recipients(sessionmaker: async_sessionmaker[AsyncSession], people: int, groups: int) -> int:
    """A unit with `people` people and `groups` sub-units, each with its duty group; a publisher. Returns the
    unit's id. People are FIRST_PERSON + i, groups FIRST_GROUP - i."""
    async with unit_of_work(sessionmaker) as repos:
        unit = await add_unit(repos, "test", "bulk", "预警测试单位", None)
        await add_user(repos, "test", PUBLISHER, "发布员", "bulk", ["publisher"], None)
        unit_id = unit.id
    now = utcnow()
    async with transaction(sessionmaker) as s:
        for start in range(0, people, 5000):
            rows = [
                {
                    "telegram_id": FIRST_PERSON + i,
                    "name": f"信息员{i}",
                    "unit_id": unit_id,
                    "active": True,
                    "created_at": now,
                }
                for i in range(start, min(start + 5000, people))
            ]
            await s.execute(insert(User), rows)
        if groups:
            units = [
                {"code": f"bulk{i}", "name": f"乡镇{i}", "parent_id": unit_id, "created_at": now} for i in range(groups)
            ]
            await s.execute(insert(Unit), units)
    async with transaction(sessionmaker) as s:
        ids = (await s.execute(select(Unit.id, Unit.code).where(Unit.parent_id == unit_id))).all()
        by_code = {code: uid for uid, code in ids}
        if groups:
            bound = [
                {"chat_id": FIRST_GROUP - i, "unit_id": by_code[f"bulk{i}"], "title": f"乡镇{i}值班群", "bound_at": now}
                for i in range(groups)
            ]
            await s.execute(insert(DutyGroup), bound)
    return unit_id


def answers(unit_id: int, level: str = "blue", **fields: Any) -> dict[str, Any]:
    now = utcnow()
    return {
        "category": "natural",
        "subtype": "meteorological",
        "event": "暴雨",
        "level": level,
        "area": "全市",
        "onset": now.isoformat(),
        "expires": (now + timedelta(hours=12)).isoformat(),
        "text": "预计未来6小时有大暴雨",
        "measures": "注意防范",
        "authority": "市气象局",
        "drill": "no",
        "units": {"selected": [str(unit_id)]},
        "subunits": "yes",
        "roles": {"selected": []},
        "groups": "yes",
        **fields,
    }


async def publish(
    sessionmaker: async_sessionmaker[AsyncSession],
    config: Config,
    unit_id: int,
    level: str = "blue",
    publisher: int = PUBLISHER,
    **fields: Any,
) -> WarningFiled:
    async with unit_of_work(sessionmaker) as repos:
        user = await repos.users.by_telegram_id(publisher)
        assert user is not None
        draft = {"token": secrets.token_hex(8), "answers": answers(unit_id, level, **fields)}
        return await submit_warning(repos, user, draft, {}, config)


def people(n: int) -> list[int]:
    return [FIRST_PERSON + i for i in range(n)]


def groups(n: int) -> list[int]:
    return [FIRST_GROUP - i for i in range(n)]
