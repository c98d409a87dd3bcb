"""Statutory clocks over real HTTP with an injected clock (no sleeping): the reporter is reminded before a
deadline and at it, the report is marked 迟报 and the duty groups are told, 漏报 is recorded; an alert
nobody acknowledges is sent again mentioning the duty leaders, then to the parent unit's group."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.usecases.onboarding import bind_group
from storage.models import Alert, AuditEntry, Deadline, Incident, Report
from tests.conftest import Harness
from tests.http.test_report_http import fill_until_review
from tests.reporting import Reporter

CITY_GROUP, COUNTY_GROUP = -100200, -100300


async def file_county_report(harness: Harness, casualties: str = "死亡3 受伤5") -> Incident:
    await harness.seed()
    async with harness.repos() as repos:
        await bind_group(repos, "test", COUNTY_GROUP, await repos.units.by_code("county"), "县值班群", None)
    r = Reporter(harness.api, 1002)
    await fill_until_review(r, casualties=casualties)
    assert "初报已提交" in await r.tap("提交")
    async with harness.repos() as repos:
        return await repos.session.scalar(select(Incident))


def texts(harness: Harness, chat_id: int, since: int = 0) -> list[str]:
    return [s.text for s in harness.api.in_chat(chat_id)[since:] if s.method == "sendMessage"]


async def rows(harness: Harness) -> list[Deadline]:
    async with harness.repos() as repos:
        return list(await repos.session.scalars(select(Deadline).order_by(Deadline.id)))


async def test_follow_up_clock_reminds_then_escalates_then_records_missed_each_once(harness: Harness) -> None:
    incident = await file_county_report(harness, casualties="死亡1")  # 一般: no acknowledgement escalation
    t0, api, tick = incident.occurred_at, harness.api, harness.app.scheduler.tick
    initial, followup = await rows(harness)
    assert (initial.due, initial.state, initial.late, initial.next_at) == ("initial", "met", False, None)
    assert (followup.due, followup.state, followup.seq, followup.due_at) == (
        "followup",
        "open",
        1,
        t0 + timedelta(hours=72),
    )
    async with harness.repos() as repos:
        report = await repos.session.scalar(select(Report))
    assert report.due_at == initial.due_at and report.incomplete and report.unknown == ["casualties"]

    before = len(api.in_chat(1002))
    assert await tick(t0 + timedelta(hours=35)) == 0  # nothing due yet (first reminder at half the window)
    assert await tick(t0 + timedelta(hours=36)) == 1
    [reminder] = texts(harness, 1002, before)
    assert "报送提醒" in reminder and incident.number in reminder
    assert "第1次续报" in reminder and "还有 1天12小时" in reminder
    assert api.in_chat(1002)[-1].button("填写第1次续报")
    assert await tick(t0 + timedelta(hours=36, minutes=5)) == 0  # exactly once
    assert await tick(t0 + timedelta(hours=65)) == 1  # at 90% of the window
    assert "还有 7小时" in texts(harness, 1002)[-1]

    group_before = len(api.in_chat(COUNTY_GROUP))
    assert await tick(t0 + timedelta(hours=72)) == 2  # the last reminder, and the county's duty group
    late = texts(harness, COUNTY_GROUP, group_before)
    assert len(late) == 1 and "迟报" in late[0] and incident.number in late[0] and "李报送" in late[0]
    assert "已超时" in texts(harness, 1002)[-1]
    assert (await rows(harness))[1].late
    assert not texts(harness, CITY_GROUP, len(api.in_chat(CITY_GROUP)))

    city_before = len(api.in_chat(CITY_GROUP))
    assert await tick(t0 + timedelta(hours=74)) == 1  # a step later: the parent unit's duty group
    assert "迟报" in texts(harness, CITY_GROUP, city_before)[0]

    assert await tick(t0 + timedelta(hours=96)) == 1  # the deadline plus the grace period: 漏报
    assert "漏报" in texts(harness, COUNTY_GROUP)[-1]
    row = (await rows(harness))[1]
    assert (row.state, row.late, row.next_at) == ("missed", True, None)
    assert await tick(t0 + timedelta(days=30)) == 0
    async with harness.repos() as repos:
        actions = [
            a.action
            for a in await repos.session.scalars(
                select(AuditEntry).where(AuditEntry.entity == "deadline").order_by(AuditEntry.id)
            )
        ]
    assert actions == [
        "deadline.remind",
        "deadline.remind",
        "deadline.remind",
        "deadline.late",
        "deadline.escalate",
        "deadline.escalate",
        "deadline.missed",
    ]


async def test_a_long_stop_fires_what_came_due_once_marked_late(harness: Harness) -> None:
    incident = await file_county_report(harness, casualties="死亡1")
    before = len(harness.api.in_chat(1002))
    # the bot was down from before the first reminder until after the deadline: one reminder, not three
    assert await harness.app.scheduler.tick(incident.occurred_at + timedelta(hours=73)) == 2
    [reminder] = texts(harness, 1002, before)
    assert "已超时 1小时" in reminder
    assert (await rows(harness))[1].late


async def test_an_unacknowledged_alert_is_sent_again_then_to_the_parent_group(harness: Harness) -> None:
    await file_county_report(harness)  # 3 deaths: 较大, which asks for acknowledgement
    api = harness.api
    await api.wait_for(lambda: texts(harness, COUNTY_GROUP) and texts(harness, CITY_GROUP))
    city_alert = next(s for s in api.in_chat(CITY_GROUP) if s.method == "sendMessage")
    await api.answer_to(await api.press(1003, city_alert, city_alert.button("收到")["callback_data"]))
    async with harness.repos() as repos:  # the city acknowledged its own alert; the county did not
        alert = await repos.session.scalar(select(Alert).where(Alert.chat_id == COUNTY_GROUP))
    assert alert.sent_at is not None and alert.ack_due_at is not None
    sent, tick = alert.sent_at, harness.app.scheduler.tick
    county, city = len(api.in_chat(COUNTY_GROUP)), len(api.in_chat(CITY_GROUP))

    assert await tick(sent + timedelta(minutes=4)) == 0
    assert await tick(sent + timedelta(minutes=5)) == 1
    [again] = [s for s in api.in_chat(COUNTY_GROUP)[county:] if s.method == "sendMessage"]
    assert "尚无人确认" in again.text and "赵带班" in again.text and "tg://user?id=1004" in again.raw
    assert again.button("收到")
    assert await tick(sent + timedelta(minutes=14)) == 0
    assert await tick(sent + timedelta(minutes=15)) == 1
    parent = texts(harness, CITY_GROUP, city)
    assert len(parent) == 1 and "县应急管理局" in parent[0] and "尚无人确认" in parent[0]
    assert await tick(sent + timedelta(hours=1)) == 0  # every step taken


async def test_an_acknowledged_alert_is_not_escalated(harness: Harness) -> None:
    await file_county_report(harness)
    api = harness.api
    await api.wait_for(lambda: texts(harness, COUNTY_GROUP))
    alert_message = next(s for s in api.in_chat(COUNTY_GROUP) if s.method == "sendMessage")
    await api.answer_to(await api.press(1004, alert_message, alert_message.button("收到")["callback_data"]))
    async with harness.repos() as repos:
        alert = await repos.session.scalar(select(Alert).where(Alert.chat_id == COUNTY_GROUP))
    assert alert.ack_due_at is None
    county = len(api.in_chat(COUNTY_GROUP))
    # the city's own alert of the report is still unacknowledged: it alone is sent again, in the city's group
    assert await harness.app.scheduler.tick(alert.sent_at + timedelta(minutes=30)) == 1
    assert not texts(harness, COUNTY_GROUP, county)
    assert "尚无人确认" in texts(harness, CITY_GROUP)[-1]


async def test_a_minor_alert_asks_for_no_acknowledgement(harness: Harness) -> None:
    await file_county_report(harness, casualties="无")
    async with harness.repos() as repos:
        alerts = list(await repos.session.scalars(select(Alert)))
    assert alerts and all(a.ack_due_at is None for a in alerts)
