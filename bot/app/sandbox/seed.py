"""The sandbox's office, made through the same use cases an operator's commands and an administrator's messages
use (no SQL of its own): a city with two counties, a person for every role, the duty groups, a roster covering now
and the next shift, a linked unit with its liaison, and a published blue warning."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.usecases.common import Config
from bot.usecases.dispatch import add_linked_unit
from bot.usecases.onboarding import add_unit, add_user, bind_group_by_code
from bot.usecases.roster import import_roster
from bot.usecases.warnings import submit_warning
from storage.uow import unit_of_work

ACTOR = "sandbox"


@dataclass(frozen=True)
class Person:
    telegram_id: int
    name: str
    unit: str
    roles: tuple[str, ...]
    phone: str


UNITS = (("city", "滨江市应急管理局", None), ("east", "东城县应急管理局", "city"), ("west", "西山县应急管理局", "city"))
PEOPLE = (
    Person(1001, "王小报", "east", ("reporter",), "13800000001"),
    Person(1002, "周县值", "east", ("duty_officer", "reporter"), "13800000002"),
    Person(1003, "李值班", "city", ("duty_officer",), "13800000003"),
    Person(1004, "张带班", "city", ("duty_leader",), "13800000004"),
    Person(1005, "赵发布", "city", ("publisher",), "13800000005"),
    Person(1006, "陈管理", "city", ("admin", "duty_leader"), "13800000006"),
    Person(1007, "吴接班", "city", ("duty_officer",), "13800000007"),
    Person(1008, "郑西山", "west", ("reporter", "duty_officer"), "13800000008"),
    Person(1009, "孙联络", "fire", ("liaison",), "13800000009"),
)
GROUPS = (
    (-1001001, "city", "滨江市应急值班群"),
    (-1001002, "east", "东城县应急值班群"),
    (-1001003, "west", "西山县应急值班群"),
)
ADMIN = 1006  # administers the groups (getChatMember answers "administrator" for them)


def roster_csv(now: datetime, config: Config) -> bytes:
    """This shift (08:00 to 08:00, local) and the next, for the city and the east county."""
    local = now.astimezone(config.tz)
    start = local.replace(hour=8, minute=0, second=0, microsecond=0)
    if local < start:
        start -= timedelta(days=1)
    nxt, end = start + timedelta(days=1), start + timedelta(days=2)
    fmt = "%Y-%m-%d %H:%M"
    rows = ["单位,开始,结束,角色,姓名,电话"]
    for a, b, officer, leader in ((start, nxt, PEOPLE[2], PEOPLE[3]), (nxt, end, PEOPLE[6], PEOPLE[5])):
        rows.append(f"city,{a:{fmt}},{b:{fmt}},值班员,{officer.name},{officer.phone}")
        rows.append(f"city,{a:{fmt}},{b:{fmt}},带班领导,{leader.name},{leader.phone}")
        rows.append(f"east,{a:{fmt}},{b:{fmt}},值班员,{PEOPLE[1].name},{PEOPLE[1].phone}")
    return ("\n".join(rows) + "\n").encode()


def blue_warning(unit_id: int, now: datetime) -> dict[str, object]:
    return {
        "category": "natural",
        "subtype": "meteorological",
        "event": "大风",
        "level": "blue",
        "area": "滨江市全境",
        "onset": now.isoformat(),
        "expires": (now + timedelta(hours=24)).isoformat(),
        "text": "预计今天夜间到明天白天，全市有6级阵风，沿江地区7级。",
        "measures": "加固围板、棚架等搭建物，停止高空作业，注意行车安全。",
        "authority": "滨江市气象台",
        "drill": "no",
        "units": {"selected": [str(unit_id)]},
        "subunits": "yes",
        "roles": {"selected": []},
        "groups": "yes",
    }


async def seed_office(sessionmaker: async_sessionmaker[AsyncSession], config: Config) -> None:
    """Make the office (an empty database only: the caller checks)."""
    now = config.clock()
    async with unit_of_work(sessionmaker) as repos:
        units = {code: await add_unit(repos, ACTOR, code, name, parent) for code, name, parent in UNITS}
        await add_linked_unit(repos, ACTOR, "fire", "fire", "first", config.dispatch, "滨江市消防救援支队", "city")
        for p in PEOPLE:
            await add_user(repos, ACTOR, p.telegram_id, p.name, p.unit, list(p.roles), p.phone)
        for chat_id, unit, title in GROUPS:
            await bind_group_by_code(repos, ACTOR, chat_id, unit, title)
    async with unit_of_work(sessionmaker) as repos:
        imported = await import_roster(repos, ACTOR, roster_csv(now, config), "roster.csv", config)
        if imported.problems:
            raise RuntimeError(f"the sandbox's roster was refused: {imported.problems}")
    async with unit_of_work(sessionmaker) as repos:
        publisher = await repos.users.by_telegram_id(1005)
        assert publisher is not None
        draft = {"token": secrets.token_hex(8), "answers": blue_warning(units["city"].id, now)}
        await submit_warning(repos, publisher, draft, {}, config)
