"""Follow-up reports over real HTTP: opened from the receipt, a reminder or /followup; numbered; starting
from the last figures; a lower figure needs a correction note; the duty group sees what changed; the
follow-up deadline is met and the next one starts."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from storage.models import Alert, AuditEntry, Deadline, Incident, Report
from tests.conftest import Harness
from tests.http.test_clocks_http import COUNTY_GROUP, file_county_report, texts
from tests.reporting import Reporter


async def write_followup(r: Reporter, figures: str, correction: str | None = None) -> str:
    """From the first field of an open follow-up form to its review."""
    await r.say("货车刹车失灵，撞上大巴")
    await r.say("道路已恢复单向通行")
    await r.tap("跳过")
    await r.say(figures)
    await r.tap("保持不变")  # the loss as last reported
    if correction is not None:
        await r.say(correction)
    await r.say("继续搜救失踪人员")
    await r.tap("跳过")
    return await r.tap("下一步")


async def test_a_followup_from_the_receipt_shows_the_changes_and_restarts_the_clock(harness: Harness) -> None:
    incident = await file_county_report(harness)  # 死亡3 受伤5
    api, r = harness.api, Reporter(harness.api, 1002)
    await api.wait_for(lambda: texts(harness, COUNTY_GROUP))
    opened = await r.tap("填写续报")  # the receipt's button
    assert f"{incident.number}" in opened and "第1次续报" in opened and "起因和经过" in opened

    review = await write_followup(r, "死亡2 失踪1", correction="一名死者经核实为重伤，已转院")
    assert "请核对后提交" in review
    done = await r.tap("提交")
    assert "第1次续报已提交" in done and incident.number in done and "第2次续报须于" in done

    alert = await api.wait_for(lambda: [t for t in texts(harness, COUNTY_GROUP) if "续报（第1次）" in t])
    assert "死亡 3 → 2（更正：一名死者经核实为重伤，已转院）" in alert[0]
    assert "失踪 不详 → 1" in alert[0] and "当前情况：道路已恢复单向通行" in alert[0]
    assert "受伤" not in alert[0].split("变化：")[1].split("\n")[0]  # unchanged figures are not listed

    async with harness.repos() as repos:
        stored = await repos.session.get(Incident, incident.id)
        assert (stored.deaths, stored.missing, stored.injuries) == (2, 1, 5)
        report = await repos.session.scalar(select(Report).where(Report.kind == "followup"))
        assert report.seq == 1 and report.fields["correction"] == "一名死者经核实为重伤，已转院"
        assert report.due_at == incident.occurred_at + timedelta(hours=72) and not report.late
        deadlines = list(await repos.session.scalars(select(Deadline).order_by(Deadline.id)))
        assert [(d.due, d.seq, d.state) for d in deadlines] == [
            ("initial", 0, "met"),
            ("followup", 1, "met"),
            ("followup", 2, "open"),
        ]
        assert deadlines[1].report_id == report.id and deadlines[1].next_at is None
        assert deadlines[2].due_at - deadlines[2].start_at == timedelta(hours=24)  # 较大: every 24 h
        assert stored.next_due_at == deadlines[2].due_at
        alerts = list(await repos.session.scalars(select(Alert).where(Alert.report_id == report.id)))
        assert {a.chat_id for a in alerts} == {COUNTY_GROUP, -100200}  # 较大: the city is told too

    # the met deadline's reminders are gone: at its 90% mark only the new deadline's clock counts
    before = len(api.in_chat(1002))
    await harness.app.scheduler.tick(incident.occurred_at + timedelta(hours=65))
    assert not [t for t in texts(harness, 1002, before) if "第1次续报" in t]


async def test_followup_command_lists_open_incidents_and_numbers_them(harness: Harness) -> None:
    incident = await file_county_report(harness, casualties="死亡1")
    r = Reporter(harness.api, 1002)
    opened = await r.say("/followup")  # one open incident: it opens at once
    assert "第1次续报" in opened
    await write_followup(r, "死亡1")
    assert "第1次续报已提交" in await r.tap("提交")
    opened = await r.say("/followup")
    assert "第2次续报" in opened
    await write_followup(r, "死亡4")  # more deaths: 较大 now, no correction needed
    assert "第2次续报已提交" in await r.tap("提交")
    async with harness.repos() as repos:
        stored = await repos.session.get(Incident, incident.id)
        assert (stored.deaths, stored.grade, stored.suggested_grade) == (4, "III", "III")
        reports = list(await repos.session.scalars(select(Report).order_by(Report.id)))
        assert [(x.kind, x.seq) for x in reports] == [("initial", 0), ("followup", 1), ("followup", 2)]
        regrade = await repos.session.scalar(select(AuditEntry).where(AuditEntry.action == "incident.regrade"))
        assert regrade.before == {"grade": "IV"} and regrade.after["grade"] == "III"


async def test_a_stranger_cannot_follow_up_another_units_incident(harness: Harness) -> None:
    incident = await file_county_report(harness, casualties="死亡1")
    api = harness.api
    assert "没有未结案的事件" in await Reporter(api, 1005).say("/followup")
    receipt = api.screen(1002)
    query = await api.press(1005, receipt, receipt.button("填写续报")["callback_data"])  # a forwarded button
    assert "不属于你的单位" in (await api.answer_to(query))["text"]  # refused in the press's popup
    async with harness.repos() as repos:
        assert await repos.session.scalar(select(Report).where(Report.kind == "followup")) is None
    assert incident.status == "open"
