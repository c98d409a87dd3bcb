"""The duty desk's status queries over real HTTP: /status, /incident, /mine, /overdue on seeded data, the
visibility rules of the unit tree (a sibling unit sees nothing), and pagination with buttons."""

from __future__ import annotations

import asyncio
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from bot.app.sandbox.botapi import FakeBotAPI
from bot.domain.clock import utcnow
from bot.telegram.scheduler import Scheduler
from storage.models import Deadline, Incident
from tests.conftest import Harness, running
from tests.http.test_clocks_http import CITY_GROUP, COUNTY_GROUP, file_county_report, texts
from tests.http.test_report_http import fill_until_review
from tests.reporting import Reporter


async def two_incidents(harness: Harness) -> tuple[Incident, Incident]:
    """One in the county (under the city), one in the neighbouring county (a sibling of the city)."""
    county = await file_county_report(harness)
    other = Reporter(harness.api, 1005)
    await fill_until_review(other)
    assert "初报已提交" in await other.tap("提交")
    async with harness.repos() as repos:
        neighbour = await repos.session.scalar(select(Incident).where(Incident.id != county.id))
    return county, neighbour


async def test_status_follows_the_unit_tree_and_a_sibling_sees_nothing(harness: Harness) -> None:
    county, neighbour = await two_incidents(harness)
    city_officer = await Reporter(harness.api, 1003).say("/status")  # the city sees the county below it
    assert county.number in city_officer and neighbour.number not in city_officer
    assert "未结事件 1 起" in city_officer and "交通运输事故" in city_officer and "县应急管理局" in city_officer
    county_leader = await Reporter(harness.api, 1004).say("/status")
    assert county.number in county_leader and neighbour.number not in county_leader
    neighbour_reporter = await Reporter(harness.api, 1005).say("/status")  # a reporter: their own only
    assert neighbour.number in neighbour_reporter and county.number not in neighbour_reporter
    # the timeline of another unit's incident: the same answer as for a number that does not exist
    refused = await Reporter(harness.api, 1005).say(f"/incident {county.number}")
    assert "无权查看" in refused and "交通运输事故" not in refused
    assert "无权查看" in await Reporter(harness.api, 1003).say(f"/incident {neighbour.number}")


async def test_incident_timeline_shows_reports_acknowledgements_and_reminders(harness: Harness) -> None:
    county, _neighbour = await two_incidents(harness)
    api = harness.api
    alert = await api.wait_for(
        lambda: [s for s in api.in_chat(COUNTY_GROUP) if county.number in s.text and s.buttons()]
    )
    query = await api.press(1004, alert[0], alert[0].button("收到")["callback_data"])
    await api.answer_to(query)
    async with harness.repos() as repos:
        followup = await repos.session.scalar(
            select(Deadline).where(Deadline.incident_id == county.id, Deadline.state == "open")
        )
    await harness.app.scheduler.tick(followup.due_at - timedelta(hours=1))  # the reporter is reminded
    timeline = await Reporter(api, 1003).say(f"/incident {county.number}")
    assert f"{county.number}（处置中）" in timeline
    assert "初报 由 李报送 报送" in timeline
    assert "赵带班（县应急管理局）确认收到" in timeline
    assert "提醒报送" in timeline and "续报" in timeline
    assert "死亡 3" in timeline and "受伤 5" in timeline
    assert "下次时限" not in timeline and "还剩" in timeline  # what is due now, with the time left


async def test_overdue_and_mine(harness: Harness) -> None:
    county, neighbour = await two_incidents(harness)
    past = utcnow() - timedelta(hours=2)
    async with harness.repos() as repos:
        await repos.session.execute(update(Deadline).values(due_at=past, next_at=None))
    overdue = await Reporter(harness.api, 1003).say("/overdue")
    assert "超时未报 1 项" in overdue and county.number in overdue and neighbour.number not in overdue
    assert "李报送（县应急管理局）" in overdue and "已超时 2小时" in overdue
    mine = await Reporter(harness.api, 1002).say("/mine")
    assert "我的未结事件 1 起" in mine and county.number in mine and "待报" in mine and "续报" in mine
    assert "🔴" in await Reporter(harness.api, 1003).say("/status")  # overdue is flagged
    assert "没有未结事件" in await Reporter(harness.api, 1001).say("/mine")  # the admin reported nothing
    assert "没有编号为" in await Reporter(harness.api, 1001).say("/incident KB-20000101-0001")


async def test_a_long_list_is_paged_with_buttons(harness: Harness) -> None:
    county = await file_county_report(harness)
    async with harness.repos() as repos:
        for i in range(12):
            repos.session.add(
                Incident(
                    number=f"KB-20990101-{i:04d}",
                    unit_id=county.unit_id,
                    reporter_id=county.reporter_id,
                    category="natural",
                    subtype="geological",
                    suggested_grade="IV",
                    grade="IV",
                    occurred_at=utcnow() - timedelta(hours=i),
                    place_text=f"山体{i}",
                    status="open",
                    initial_due_at=utcnow(),
                )
            )
    r = Reporter(harness.api, 1003)
    first = await r.say("/status")
    assert "未结事件 13 起" in first and first.count("KB-") == 10
    assert county.number in first.split("\n")[1]  # the one with a deadline comes first
    second = await r.tap("下一页")
    assert second.count("KB-") == 3 and "2/2" in " ".join(r.buttons())
    assert "上一页" in " ".join(r.buttons())


async def test_the_duty_ledger_of_a_day(harness: Harness) -> None:
    county, neighbour = await two_incidents(harness)
    api = harness.api
    alert = await api.wait_for(
        lambda: [s for s in api.in_chat(COUNTY_GROUP) if county.number in s.text and s.buttons()]
    )
    await api.answer_to(await api.press(1004, alert[0], alert[0].button("收到")["callback_data"]))
    ledger = await Reporter(api, 1003).say("/ledger")
    assert "值班台账（收到报告 1 份）" in ledger and county.number in ledger and neighbour.number not in ledger
    assert "县应急管理局·李报送" in ledger and "赵带班" in ledger and "确认" in ledger
    assert "没有收到报告" in await Reporter(api, 1003).say("/ledger yesterday")
    assert "用法" in await Reporter(api, 1003).say("/ledger 六月一日")
    assert "值班台账" not in await Reporter(api, 1002).say("/ledger")  # a reporter has no ledger


async def test_the_daily_summary_once_a_day_to_each_duty_group(fake_api: FakeBotAPI, db_url: str) -> None:
    async with running(fake_api, db_url, daily_summary_at="07:30") as harness:
        county = await file_county_report(harness)
        api = harness.api
        await api.wait_for(lambda: [s for s in api.in_chat(COUNTY_GROUP) if county.number in s.text])
        alert = next(s for s in api.in_chat(COUNTY_GROUP) if county.number in s.text and s.buttons())
        await api.answer_to(await api.press(1004, alert, alert.button("收到")["callback_data"]))
        tz = ZoneInfo("Asia/Shanghai")
        today = county.created_at.astimezone(tz).date()
        tomorrow = datetime.combine(today + timedelta(days=1), time(7, 30), tzinfo=tz)
        scheduler = harness.app.scheduler

        def summaries(chat: int) -> list[str]:
            return [t for t in texts(harness, chat) if f"值班日报 · {today.isoformat()}" in t]

        await scheduler.tick(tomorrow - timedelta(minutes=1))  # not yet
        assert summaries(COUNTY_GROUP) == [] and summaries(CITY_GROUP) == []
        assert await scheduler.next_due() is not None
        await scheduler.tick(tomorrow + timedelta(minutes=1))
        county_summary = await api.wait_for(lambda: summaries(COUNTY_GROUP))
        assert len(county_summary) == 1
        text = county_summary[0]
        assert "县应急管理局及下级单位" in text and "昨日新增事件 1 起" in text and "收到报告 1 份" in text
        assert "推送值班群告警 1 条，已确认 1 条" in text and "未结事件 1 起" in text
        city_summary = await api.wait_for(lambda: summaries(CITY_GROUP))
        assert "市应急管理局及下级单位" in city_summary[0] and "昨日新增事件 1 起" in city_summary[0]
        # again, and from a second scheduler (another process): never twice
        await scheduler.tick(tomorrow + timedelta(minutes=5))
        other = Scheduler(
            harness.app.sessionmaker, harness.app.catalogs, harness.app.notifier, harness.app.outbox, scheduler.config
        )
        await other.tick(tomorrow + timedelta(minutes=6))
        await asyncio.sleep(0.3)
        assert len(summaries(COUNTY_GROUP)) == 1 and len(summaries(CITY_GROUP)) == 1
        # the next day's, asked for 13 hours after its time (the bot was down): skipped, not posted that late
        await scheduler.tick(tomorrow + timedelta(days=1, hours=13))
        await asyncio.sleep(0.3)
        day_after = f"值班日报 · {(today + timedelta(days=1)).isoformat()}"
        assert not [t for t in texts(harness, COUNTY_GROUP) if day_after in t]
        await scheduler.tick(tomorrow + timedelta(days=1, hours=1))  # while in time, it goes out
        assert await api.wait_for(lambda: [t for t in texts(harness, COUNTY_GROUP) if day_after in t])
