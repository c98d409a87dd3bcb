"""The initial report over real HTTP: the reporter's phone, the duty groups, the database."""

from __future__ import annotations

import asyncio
import re
from datetime import time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update

from bot.domain.clock import utcnow
from bot.domain.clocks import is_night
from bot.telegram.callbacks import FormCb
from bot.usecases.onboarding import add_user, bind_group
from storage.models import Acknowledgement, Alert, Attachment, AuditEntry, FsmRecord, Incident, Report
from tests.conftest import Harness
from tests.reporting import Reporter

CITY_GROUP, COUNTY_GROUP = -100200, -100300


async def fill_until_review(r: Reporter, casualties: str = "死亡3 受伤5", photos: int = 0) -> str:
    await r.say("/report")
    await r.tap("30分钟前")
    await r.share_location(31.23, 121.47)
    await r.say("XX镇XX村 G205 国道")
    await r.tap("现场人员")
    await r.tap("下一步")
    await r.tap("事故灾难")
    await r.tap("交通运输事故")
    await r.say("一辆货车与大巴相撞，<车辆> & 人员受困")
    await r.tap("跳过")
    await r.say(casualties)
    await r.say("350万")
    await r.say("已封闭道路，救护车到场")
    if any("确认" in b for b in r.buttons()):
        await r.tap("确认")  # the profile's name and phone, one tap
    else:
        await r.say("钱外县 13900000005")
    for i in range(photos):
        await r.photo(f"photo-{i}")
    return await r.tap("下一步")


async def count(h: Harness, model: type) -> int:
    async with h.repos() as repos:
        return int(await repos.session.scalar(select(func.count()).select_from(model)))


async def test_full_report_with_location_photos_edit_submit_and_acknowledge(harness: Harness) -> None:
    await harness.seed()
    async with harness.repos() as repos:
        await bind_group(repos, "test", COUNTY_GROUP, await repos.units.by_code("county"), "县值班群", None)
    api, r = harness.api, Reporter(harness.api, 1002)

    review = await fill_until_review(r, photos=2)
    assert "建议分级：较大（Ⅲ级）" in review and "照片 ×2" in review
    assert "一辆货车与大巴相撞，<车辆> & 人员受困" in review  # escaped, shown as typed

    prompt = await r.tap("人员伤亡")  # edit one field from the review
    assert "当前：死亡 3" in prompt
    review = await r.say("死亡10 受伤5")
    assert "请核对后提交" in review and "重大（Ⅱ级）" in review
    done = await r.tap("提交")
    number = re.search(r"KB-\d{8}-\d{4}", done).group(0)
    assert "初报已提交" in done and "县值班群" in done and "市值班群" in done
    assert "首次续报" in done and "72 小时" in done

    async with harness.repos() as repos:
        incident = await repos.session.scalar(select(Incident))
        assert incident.number == number
        assert (incident.category, incident.subtype, incident.grade, incident.suggested_grade) == (
            "accident",
            "traffic",
            "II",
            "II",
        )
        assert (incident.deaths, incident.injuries, incident.missing, incident.serious_injuries) == (10, 5, None, None)
        assert incident.loss_cny == 3_500_000 and incident.place_text == "XX镇XX村 G205 国道"
        assert (incident.latitude, incident.longitude) == (31.23, 121.47)
        assert incident.next_due_at - incident.occurred_at == timedelta(hours=72)
        night = is_night(incident.occurred_at, ZoneInfo("Asia/Shanghai"), (time(22), time(6)))
        assert incident.initial_due_at - incident.occurred_at == timedelta(hours=24 if night else 2)  # §4
        unit = await repos.units.get(incident.unit_id)
        assert unit.code == "county" and (await repos.users.get(incident.reporter_id)).telegram_id == 1002
        report = await repos.session.scalar(select(Report))
        assert report.kind == "initial" and not report.late and report.fields["measures"] == "已封闭道路，救护车到场"
        assert [a.file_id for a in await repos.incidents.attachments(report.id)] == ["photo-0", "photo-1"]
        audit = await repos.session.scalar(select(AuditEntry).where(AuditEntry.action == "report.submit"))
        assert (audit.actor, audit.entity, audit.entity_id) == ("tg:1002", "incident", str(incident.id))
        assert audit.after["number"] == number and (audit.after["kind"], audit.after["grade"]) == ("initial", "II")
        assert audit.after["reporter"] == 1002 and audit.after["late"] is False and audit.before is None

    # both duty groups: the unit's and, from grade III up, the parent's; photos follow the alert
    for chat in (COUNTY_GROUP, CITY_GROUP):
        sent = await api.wait_for(lambda c=chat: len(api.in_chat(c)) >= 3 and api.in_chat(c))
        alert = sent[0]
        assert number in alert.text and "重大（Ⅱ级）" in alert.text and "事故灾难 / 交通运输事故" in alert.text
        assert "死亡 10" in alert.text and "李报送 13800000002" in alert.text and "地图" in alert.text
        assert "uri.amap.com" in alert.raw and "&amp;coordinate=wgs84" in alert.raw
        assert [s.method for s in sent[1:3]] == ["sendMediaGroup", "sendMediaGroup"]  # one album, after the alert
        assert [s.text for s in sent[1:3]] == [f"{number} 附件 1/2", f"{number} 附件 2/2"]

    alert = api.in_chat(COUNTY_GROUP)[0]
    ack = alert.button("收到")["callback_data"]
    q = await api.press(1005, alert, ack)  # a reporter of another unit
    assert "只有本单位或上级单位的值班人员" in (await api.answer_to(q))["text"]
    q = await api.press(9999, alert, ack)  # not registered at all
    assert "只有本单位或上级单位的值班人员" in (await api.answer_to(q))["text"]
    q = await api.press(1004, alert, ack)  # the county's duty leader
    assert (await api.answer_to(q))["text"] == "已确认收到。"
    edited = await api.wait_for(lambda: [s for s in api.in_chat(COUNTY_GROUP) if s.method == "editMessageText"])
    assert re.search(r"已收到：赵带班 \d\d:\d\d", edited[-1].text) and number in edited[-1].text
    q = await api.press(1004, alert, ack)
    assert (await api.answer_to(q))["text"] == "您已确认收到，无需重复操作。"
    q = await api.press(1003, alert, ack)  # the city's duty officer: a unit above
    await api.answer_to(q)
    edited = await api.wait_for(
        lambda: [s for s in api.in_chat(COUNTY_GROUP) if s.method == "editMessageText" and "张值班" in s.text]
    )
    assert "赵带班" in edited[-1].text
    async with harness.repos() as repos:
        acks = (await repos.session.scalars(select(Acknowledgement))).all()
        assert len(acks) == 2
        stored = await repos.session.scalar(select(Alert).where(Alert.chat_id == COUNTY_GROUP))
        assert stored.message_id == alert.message_id


async def test_double_tapped_and_redelivered_submit_make_one_report(harness: Harness) -> None:
    await harness.seed()
    api, r = harness.api, Reporter(harness.api, 1002)
    await fill_until_review(r)
    review = api.screen(1002)
    submit = review.button("提交")["callback_data"]
    as_seen = api.snapshot(review)  # the review with its 提交, as a late or repeated callback query carries it
    first = await api.press(1002, review, submit)
    second = await api.press(1002, review, submit)  # the second tap arrives before the first is answered
    await api.answer_to(first)
    answer = await api.answer_to(second)
    assert "已提交" in answer["text"] and "KB-" in answer["text"]
    await asyncio.sleep(0.3)
    third = await api.press(1002, review, submit, as_seen)  # redelivered much later
    assert "不会重复提交" in (await api.answer_to(third))["text"]
    stranger = await api.press(1005, review, submit, as_seen)  # the same button in another user's hands
    answer = (await api.answer_to(stranger))["text"]
    assert "按钮已失效" in answer and "KB-" not in answer
    assert await count(harness, Incident) == 1 and await count(harness, Report) == 1
    assert len({s.message_id for s in api.in_chat(1002) if "初报已提交" in s.text}) == 1  # the receipt, redrawn


async def test_a_draft_filed_elsewhere_is_filed_once_and_uses_no_number(harness: Harness) -> None:
    """Another process holding the same draft (its token filed already) submits it: the unique draft token
    turns it into the first filing, and the day's counter gives the next report the next number."""
    await harness.seed()
    api, r = harness.api, Reporter(harness.api, 1002)
    await fill_until_review(r)
    async with harness.repos() as repos:
        held = (await repos.session.scalars(select(FsmRecord).where(FsmRecord.user_id == 1002))).one()
        copy = {c: getattr(held, c) for c in ("key", "bot_id", "chat_id", "user_id", "state", "data", "updated_at")}
    review = api.screen(1002)
    as_seen = api.snapshot(review)  # the other device still shows the review with its 提交
    first = await r.tap("提交")
    number = re.search(r"KB-\d{8}-\d{4}", first).group(0)  # type: ignore[union-attr]
    async with harness.repos() as repos:  # the other process's copy of the draft (filing deleted this one)
        repos.session.add(FsmRecord(**copy))
    again = await api.press(1002, review, review.button("提交")["callback_data"], as_seen)
    await api.answer_to(again)
    await asyncio.sleep(0.3)
    assert await count(harness, Incident) == 1 and await count(harness, Report) == 1
    assert number in api.in_chat(1002)[-1].text  # told it is that report
    await fill_until_review(r)
    assert f"{number[:-4]}{int(number[-4:]) + 1:04d}" in await r.tap("提交")  # the next number, no gap


async def test_no_bound_group_saves_and_tells_admins(harness: Harness) -> None:
    await harness.seed()
    api, r = harness.api, Reporter(harness.api, 1002)
    await fill_until_review(r, casualties="无")
    done = await r.tap("提交")
    assert "已通知：王管理" in done
    dm = await api.wait_for(lambda: api.in_chat(1001))
    assert "县应急管理局」未绑定值班群" in dm[0].text and "KB-" in dm[0].text
    assert api.in_chat(CITY_GROUP) == []  # grade IV: the parent's group is not alerted
    assert await count(harness, Incident) == 1

    other = Reporter(api, 1005)  # a unit with no group and no administrator anywhere
    await fill_until_review(other, casualties="无")
    done = await other.tap("提交")
    assert "没有管理员可通知" in done and "报告已保存" in done
    assert await count(harness, Incident) == 2


async def test_strangers_get_nothing_they_should_not(harness: Harness) -> None:
    await harness.seed()
    async with harness.repos() as repos:
        await add_user(repos, "test", 1006, "孙发布", "city", ["publisher"], None)
    api, r = harness.api, Reporter(harness.api, 1002)
    await r.say("/report")
    screen = api.screen(1002)
    token = FormCb.unpack(screen.buttons()[0]["callback_data"]).t
    forged = FormCb(f="initial", t=token, s=0, a="quick", v="0").pack()

    q = await api.press(5555, screen, forged)  # an unregistered user with a copied button
    assert "邀请链接" in (await api.answer_to(q))["text"]
    q = await api.press(1005, screen, forged)  # a registered user of another unit: not their draft
    assert "按钮已失效" in (await api.answer_to(q))["text"]
    async with harness.repos() as repos:
        assert await repos.session.scalar(select(func.count()).select_from(FsmRecord)) == 1  # only 1002's draft

    await api.send_text(1006, "/report")
    assert "没有填报权限" in (await api.next_in(1006, 0)).text
    await api.send_text(1002, "/report", chat_id=CITY_GROUP)
    assert "私聊" in (await api.next_in(CITY_GROUP, 0)).text
    await api.send_text(5555, "/report")
    assert "邀请链接" in (await api.next_in(5555, 0)).text


async def test_bad_inputs_get_a_clear_answer_and_lose_nothing(harness: Harness) -> None:
    await harness.seed()
    r = Reporter(harness.api, 1002)
    await r.say("/report")
    assert "没有看懂这个时间" in await r.say("<b>昨晚</b>")
    assert "不能晚于现在" in await r.say("2099-01-01 10:00")
    await r.tap("刚刚")
    assert "位置或地点描述" in await r.sticker()
    await r.say("河堤")
    assert "这一步需要从按钮中选择" in await r.sticker()
    await r.tap("现场人员")
    await r.tap("下一步")
    await r.tap("自然灾害")
    await r.tap("地质灾害")
    assert "内容过长（5000 字）" in await r.say("长" * 5000)
    assert "照片已保存为附件" in await r.photo("p")  # kept for the attachments step, not refused
    answer = await r.say("山体滑坡 <script>alert(1)</script>")
    assert "第 7/12 步" in answer
    review_after = await r.say("返回")
    assert "当前：山体滑坡 <script>alert(1)</script>" in review_after  # kept, and shown as typed


async def test_editing_a_sent_message_is_answered_not_silently_ignored(harness: Harness) -> None:
    await harness.seed()
    api, r = harness.api, Reporter(harness.api, 1002)
    await r.say("/report")
    await r.tap("刚刚")
    sent = await api.send_text(1002, "河堤")
    await api.settle(1002, 0)
    before = len(api.in_chat(1002))
    edited = dict(sent["message"], text="江堤", edit_date=sent["message"]["date"] + 5)
    await api.push({"edited_message": edited})
    (answer,) = await api.settle(1002, before)
    assert "修改已发送的消息不会生效" in answer.text
    assert "当前：河堤" in await r.say("/back")


async def test_cancel_asks_and_keeps_nothing(harness: Harness) -> None:
    await harness.seed()
    r = Reporter(harness.api, 1002)
    await r.say("/report")
    await r.tap("刚刚")
    assert "确定取消本次填报吗" in await r.say("/cancel")
    assert "第 2/12 步" in await r.tap("否，继续填写")
    await r.say("/cancel")
    assert "已取消" in await r.tap("是，取消填报")
    async with harness.repos() as repos:
        assert await repos.session.scalar(select(func.count()).select_from(FsmRecord)) == 0
    assert "第 1/12 步" in await r.say("/report")  # a fresh start, no draft offered


async def test_draft_continue_restart_and_expiry(harness: Harness) -> None:
    await harness.seed()
    api, r = harness.api, Reporter(harness.api, 1002)
    await r.say("/report")
    await r.tap("1小时前")
    await r.say("河堤")
    offer = await r.say("/report")
    assert "未完成的初报" in offer and "已填 2/12" in offer
    assert "第 3/12 步 · 信息来源" in await r.tap("继续填写")
    await r.say("/report")
    assert "第 1/12 步" in await r.tap("重新开始")

    await r.tap("刚刚")
    async with harness.repos() as repos:
        await repos.session.execute(update(FsmRecord).values(updated_at=utcnow() - timedelta(days=8)))
    assert await harness.app.sweep_drafts() == 1
    notice = await api.wait_for(lambda: [s for s in api.in_chat(1002) if "已自动作废" in s.text])
    assert "7 天" in notice[0].text
    async with harness.repos() as repos:
        assert await repos.session.scalar(select(func.count()).select_from(FsmRecord)) == 0
    assert await harness.app.sweep_drafts() == 0
    assert await count(harness, Attachment) == 0


async def test_long_review_is_split_below_the_limit_and_still_submits(harness: Harness) -> None:
    await harness.seed()
    api, r = harness.api, Reporter(harness.api, 1002)
    await r.say("/report")
    await r.tap("刚刚")
    await r.say("河堤")
    await r.tap("现场人员")
    await r.tap("下一步")
    await r.tap("事故灾难")
    await r.tap("火灾")
    await r.say("火" * 2990 + "<&>")
    await r.tap("跳过")
    await r.say("无")
    await r.tap("跳过")
    await r.say("措" * 2999)
    await r.tap("确认")
    before = len(api.in_chat(1002))
    await r.tap("下一步")
    parts = [s for s in api.in_chat(1002)[before:] if s.method == "sendMessage"]
    assert len(parts) >= 2 and all(len(p.text) <= 4096 for p in parts)
    assert parts[-1].reply_markup and not any(p.reply_markup for p in parts[:-1])
    assert "火<&>" in "".join(p.text for p in parts)
    review = api.screen(1002)
    done = await r.tap("提交")
    assert "初报已提交" in done
    assert await count(harness, Incident) == 1
    receipt = next(s for s in reversed(api.in_chat(1002)) if "初报已提交" in s.text)
    assert receipt.method == "sendMessage" and receipt.message_id != review.message_id  # too long to replace it
    async with harness.repos() as repos:  # filing wrote the review as its place; the handler corrected it
        report = await repos.session.scalar(select(Report))
        assert (report.receipt_chat_id, report.receipt_message_id, report.receipt_locale) == (1002, None, "zh_Hans")
