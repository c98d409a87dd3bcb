"""Flash and phone reports over real HTTP: the duty group is alerted at once, the written initial report is
due 30 minutes later and the reporter is reminded; the written report is linked to the same incident."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.usecases.onboarding import bind_group
from storage.models import Deadline, Incident, Report
from tests.conftest import Harness
from tests.http.test_clocks_http import CITY_GROUP, COUNTY_GROUP, texts
from tests.reporting import Reporter


async def setup_county(harness: Harness) -> None:
    await harness.seed()
    async with harness.repos() as repos:
        await bind_group(repos, "test", COUNTY_GROUP, await repos.units.by_code("county"), "县值班群", None)


async def file_flash(r: Reporter, opened: bool = False) -> str:
    if not opened:
        assert "快报" in await r.say("/flash")
    await r.say("化工厂反应釜爆炸")
    await r.say("XX化工园区")
    await r.tap("刚刚")
    await r.tap("事故灾难")
    await r.tap("工矿商贸安全事故")
    await r.say("死亡12 失踪3")
    review = await r.tap("下一步")
    assert "请核对后提交" in review and "重大" in review
    return await r.tap("提交")


async def test_flash_alerts_at_once_then_the_written_report_is_due_in_30_minutes(harness: Harness) -> None:
    await setup_county(harness)
    api, r = harness.api, Reporter(harness.api, 1002)
    assert "/flash" in await r.say("/report")  # offered from the start
    offer = await r.say("/flash")  # the initial report's draft waits: it may give way to the flash report
    assert "未完成的初报" in offer
    assert "快报" in await r.tap("放弃草稿，改填快报")
    done = await file_flash(r, opened=True)
    assert "快报已提交" in done and "书面初报须于" in done
    for group in (COUNTY_GROUP, CITY_GROUP):  # 重大: the parent unit's group too, at once
        flash = await api.wait_for(lambda g=group: [t for t in texts(harness, g) if "突发事件快报" in t])
        assert "化工厂反应釜爆炸" in flash[0]
    async with harness.repos() as repos:
        incident = await repos.session.scalar(select(Incident))
        written = await repos.session.scalar(select(Deadline).where(Deadline.due == "written"))
        flash_report = await repos.session.scalar(select(Report))
    assert flash_report.kind == "flash" and written.state == "open"
    assert written.due_at - flash_report.submitted_at == timedelta(minutes=30)
    assert incident.initial_due_at == written.due_at and incident.grade == "II"

    before = len(api.in_chat(1002))
    assert await harness.app.scheduler.tick(flash_report.submitted_at + timedelta(minutes=15)) >= 1
    reminder = texts(harness, 1002, before)[0]
    assert "书面初报" in reminder and incident.number in reminder
    assert api.in_chat(1002)[-1].button("填写书面初报")

    assert "尚未提交书面初报" in await r.say("/report")  # the written report owed, or another event?
    opened = await r.tap("填写书面初报")  # the written report of the flash report, not a new incident
    assert incident.number in opened and "书面初报" in opened
    review = await walk_written_report(r)
    assert "化工厂反应釜爆炸" in review and "XX化工园区" in review
    filed = await r.tap("提交")
    assert "初报已提交" in filed and incident.number in filed
    async with harness.repos() as repos:
        assert await repos.session.scalar(select(Incident.id).where(Incident.id != incident.id)) is None
        reports = list(await repos.session.scalars(select(Report).order_by(Report.id)))
        written = await repos.session.get(Deadline, written.id)
    assert [x.kind for x in reports] == ["flash", "initial"]
    assert (written.state, written.report_id, written.late) == ("met", reports[1].id, False)
    assert reports[1].due_at == written.due_at and not reports[1].late
    initial_alert = await api.wait_for(lambda: [t for t in texts(harness, COUNTY_GROUP) if "突发事件初报" in t])
    assert incident.number in initial_alert[0]


async def walk_written_report(r: Reporter) -> str:
    """From the first field of the prefilled written report to its review: confirm what the flash report
    said, answer what it did not."""
    await r.tap("保持不变")  # occurred at
    await r.tap("下一步")  # place: as the flash report gave it
    await r.tap("现场人员")
    await r.tap("下一步")
    await r.tap("保持不变")  # category
    await r.tap("保持不变")  # sub-type
    await r.tap("保持不变")  # description: the flash report's "what"
    await r.tap("跳过")
    await r.tap("保持不变")  # casualties
    await r.say("2000万")
    await r.say("已疏散周边群众")
    await r.tap("确认")
    return await r.tap("下一步")


async def test_a_phone_report_is_logged_for_a_named_reporter_who_is_reminded(harness: Harness) -> None:
    await setup_county(harness)
    api = harness.api
    assert "电话报告登记" not in await Reporter(api, 1002).say("/phone")  # reporters may not log phone reports
    officer = Reporter(api, 1004)  # the county's duty leader
    opened = await officer.say("/phone")
    assert "电话报告" in opened and "1. 李报送（县应急管理局）" in officer.buttons()
    await officer.tap("李报送")
    await officer.say("10分钟前")
    await officer.say("河堤出现管涌")
    await officer.say("XX镇河堤")
    await officer.tap("30分钟前")
    await officer.tap("自然灾害")
    await officer.tap("水旱灾害")
    assert "请核对后提交" in await officer.say("无")
    done = await officer.tap("提交")
    assert "电话报告已登记" in done and "书面初报须于" in done
    told = await api.wait_for(lambda: [t for t in texts(harness, 1002) if "电话报告的事件" in t])
    assert "赵带班" in told[0]
    assert api.screen(1002).button("填写书面初报")
    await api.wait_for(lambda: [t for t in texts(harness, COUNTY_GROUP) if "电话报告" in t])
    async with harness.repos() as repos:
        report = await repos.session.scalar(select(Report))
        incident = await repos.session.scalar(select(Incident))
        written = await repos.session.scalar(select(Deadline).where(Deadline.due == "written"))
    assert report.kind == "phone" and report.received_at < report.submitted_at  # received 5 minutes before
    assert incident.reporter_id != report.reporter_id  # the incident is the caller's; the log the officer's
    assert written.due_at == report.received_at + timedelta(minutes=30)
    caller = Reporter(api, 1002)
    opened = await caller.tap("填写书面初报")
    assert incident.number in opened


async def test_report_while_a_written_report_is_owed_may_still_report_another_event(harness: Harness) -> None:
    await setup_county(harness)
    r = Reporter(harness.api, 1002)
    await file_flash(r)
    assert "尚未提交书面初报" in await r.say("/report")
    opened = await r.tap("报告另一起新事件")
    assert "第 1/12 步" in opened and "书面初报" not in opened
    async with harness.repos() as repos:  # nothing filed, nothing linked yet
        assert [x.kind for x in await repos.session.scalars(select(Report))] == ["flash"]
