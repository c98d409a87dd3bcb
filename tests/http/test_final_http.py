"""Closing an incident over real HTTP: duty staff mark it handled on its alert, the reporter is asked for the
final report, which starts from the last figures and closes the incident; a duty leader can reopen it."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from storage.models import AuditEntry, Deadline, Incident
from tests.conftest import Harness
from tests.http.test_clocks_http import COUNTY_GROUP, file_county_report, texts
from tests.reporting import Reporter


async def deadlines(harness: Harness) -> list[tuple[str, str]]:
    async with harness.repos() as repos:
        return [(d.due, d.state) for d in await repos.session.scalars(select(Deadline).order_by(Deadline.id))]


async def test_handled_then_final_report_closes_then_a_duty_leader_reopens(harness: Harness) -> None:
    incident = await file_county_report(harness)  # 死亡3: 较大
    api, r = harness.api, Reporter(harness.api, 1002)
    await api.wait_for(lambda: texts(harness, COUNTY_GROUP))
    alert = next(s for s in api.in_chat(COUNTY_GROUP) if s.method == "sendMessage")
    stale_view = api.snapshot(alert)  # another officer's phone, still showing the alert with its 处置完毕

    refused = await api.answer_to(await api.press(1002, alert, alert.button("处置完毕")["callback_data"]))
    assert refused["show_alert"] and "可以标记处置完毕" in refused["text"]  # a reporter is not duty staff
    done = await api.answer_to(await api.press(1004, alert, alert.button("处置完毕")["callback_data"]))
    assert "已标记处置完毕" in done["text"]
    redrawn = await api.wait_for(
        lambda: [s for s in api.in_chat(COUNTY_GROUP) if s.method == "editMessageText" and "已标记处置完毕" in s.text]
    )
    assert [b["text"] for b in redrawn[-1].buttons()] == ["✅ 收到"]  # no second "handled"
    asked = await api.wait_for(lambda: [t for t in texts(harness, 1002) if "标记为处置完毕" in t])
    assert "赵带班" in asked[0] and incident.number in asked[0]
    assert await deadlines(harness) == [("initial", "met"), ("followup", "cancelled"), ("final", "open")]
    again = await api.answer_to(await api.press(1003, alert, alert.button("处置完毕")["callback_data"], stale_view))
    assert "已标记处置完毕或已结案" in again["text"]
    gone = await api.answer_to(await api.press(1003, alert, alert.button("处置完毕")["callback_data"]))
    assert "不在这条消息上" in gone["text"]  # as Telegram holds the alert now, the button is not on it

    opened = await r.tap("填写终报")
    assert "终报" in opened and "总体处置情况" in opened
    await r.say("伤员已全部送医，道路恢复通行")
    await r.say("交通中断6小时")
    await r.say("死亡10")  # more than reported: 重大 now
    await r.tap("保持不变")
    await r.say("货车超载、制动失灵")
    await r.say("开展货运车辆专项检查")
    assert "请核对后提交" in await r.tap("下一步")
    filed = await r.tap("提交")
    assert "终报已提交" in filed and "已结案" in filed and "评估报告须于" in filed
    final_alert = await api.wait_for(lambda: [t for t in texts(harness, COUNTY_GROUP) if "突发事件终报" in t])
    assert "死亡 3 → 10" in final_alert[0] and "处置情况：伤员已全部送医" in final_alert[0]
    async with harness.repos() as repos:
        stored = await repos.session.get(Incident, incident.id)
        assert (stored.status, stored.deaths, stored.grade) == ("closed", 10, "II")
        evaluation = await repos.session.scalar(select(Deadline).where(Deadline.due == "evaluation"))
        assert evaluation.due_at - stored.closed_at == timedelta(days=20)
    assert await deadlines(harness) == [
        ("initial", "met"),
        ("followup", "cancelled"),
        ("final", "met"),
        ("evaluation", "open"),
    ]
    assert "没有未结案的事件" in await r.say("/followup")

    assert "只有带班领导" in await r.say(f"/reopen {incident.number} 有新情况")
    leader = Reporter(api, 1004)
    assert "请写明重新开启的原因" in await leader.say(f"/reopen {incident.number}")
    assert "已重新开启" in await leader.say(f"/reopen {incident.number.lower()} 发现一名失踪人员")
    notice = await api.wait_for(lambda: [t for t in texts(harness, COUNTY_GROUP) if "重新开启" in t])
    assert "发现一名失踪人员" in notice[0] and "赵带班" in notice[0]
    assert await deadlines(harness) == [
        ("initial", "met"),
        ("followup", "cancelled"),
        ("final", "met"),
        ("evaluation", "cancelled"),
        ("followup", "open"),
    ]
    assert "已重新开启" not in await leader.say(f"/reopen {incident.number} 再次")  # not closed now
    async with harness.repos() as repos:
        assert (await repos.session.get(Incident, incident.id)).status == "open"
        reopened = await repos.session.scalar(select(AuditEntry).where(AuditEntry.action == "incident.reopen"))
        assert reopened.after["reason"] == "发现一名失踪人员"
