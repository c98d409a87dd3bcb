"""Every rule of the shipped clock table, as rows on a real database (SQLite and PostgreSQL) with an injected
clock: each reminder, escalation step and 漏报 mark fires at its moment, exactly once, and nothing before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.domain import clocks
from bot.usecases.common import Config
from bot.usecases.onboarding import add_unit, add_user, bind_group
from bot.usecases.reminders import fire_due
from storage.models import Deadline, Incident
from storage.uow import unit_of_work

POLICY = clocks.load_policy()
CONFIG = Config(tz=ZoneInfo("Asia/Shanghai"), default_locale="zh_Hans", policy=POLICY)
T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai: day time
SECOND = timedelta(seconds=1)


async def one_deadline(sessionmaker: async_sessionmaker[AsyncSession], rule: clocks.Rule) -> int:
    async with unit_of_work(sessionmaker) as repos:
        city = await add_unit(repos, "test", "city", "市应急管理局", None)
        county = await add_unit(repos, "test", "county", "县应急管理局", "city")
        await bind_group(repos, "test", -100200, city, "市值班群", None)
        await bind_group(repos, "test", -100300, county, "县值班群", None)
        reporter = await add_user(repos, "test", 1002, "李报送", "county", ["reporter"], None)
        await add_user(repos, "test", 1001, "王管理", "county", ["admin"], None)
        await add_user(repos, "test", 1004, "赵带班", "county", ["duty_leader"], None)
        incident = Incident(
            number="KB-20260302-0001",
            unit_id=county.id,
            reporter_id=reporter.id,
            category="accident",
            subtype="traffic",
            suggested_grade="II",
            grade="II",
            occurred_at=T0,
            status="open",
            initial_due_at=T0 + timedelta(hours=2),
            created_at=T0,
        )
        repos.session.add(incident)
        await repos.session.flush()
        deadline = clocks.Deadline(rule.code, rule.due, T0, T0 + rule.after)
        row = Deadline(
            incident_id=incident.id,
            unit_id=county.id,
            reporter_id=reporter.id,
            rule=rule.code,
            due=rule.due.value,
            seq=1,
            start_at=T0,
            due_at=deadline.due_at,
            state="open",
            late=False,
            next_at=clocks.plan(deadline, POLICY)[0].at,
            created_at=T0,
        )
        repos.session.add(row)
        await repos.session.flush()
        return row.id


async def fire(sessionmaker: async_sessionmaker[AsyncSession], now: datetime) -> list[tuple[int, str]]:
    async with unit_of_work(sessionmaker) as repos:
        fired = await fire_due(repos, now, CONFIG)
    return sorted((n.chat_id, n.kind) for n in fired.notices)


def expected(action: clocks.Action) -> list[tuple[int, str]]:
    if action.kind == "remind":
        return [(1002, "remind")]
    if action.kind == "missed":
        return [(-100300, "missed")]
    chats = {"unit_group": -100300, "parent_group": -100200, "duty_leaders": -100300}
    return sorted(
        {(chats[t], "overdue") for t in action.tell if t in chats}
        | {(1001, "overdue") for t in action.tell if t == "unit_admins"}
    )


@pytest.mark.parametrize("code", [r.code for r in POLICY.rules])
async def test_each_rule_fires_each_action_at_its_moment_once(
    sessionmaker: async_sessionmaker[AsyncSession], code: str
) -> None:
    rule = POLICY.rule(code)
    row_id = await one_deadline(sessionmaker, rule)
    plan = clocks.plan(clocks.Deadline(rule.code, rule.due, T0, T0 + rule.after), POLICY)
    moments = sorted({a.at for a in plan})
    assert await fire(sessionmaker, moments[0] - SECOND) == []  # nothing early
    for moment in moments:
        due_now = [a for a in plan if a.at == moment]
        want = sorted({x for a in due_now for x in expected(a)})
        assert await fire(sessionmaker, moment) == want, (code, moment)
        assert await fire(sessionmaker, moment) == []  # once
        if moment != moments[-1]:
            assert await fire(sessionmaker, moment + (min(m for m in moments if m > moment) - moment) / 2) == []
    async with unit_of_work(sessionmaker) as repos:
        row = await repos.session.get(Deadline, row_id)
    assert (row.state, row.late, row.next_at) == ("missed", True, None)
