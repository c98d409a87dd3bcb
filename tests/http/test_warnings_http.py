"""Early warnings over real HTTP: compose with the form, approval by a second publisher (never the author),
delivery to every recipient with a 收到 button, receipts and their reminders, adjust and lift, /warnstatus."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.telegram import broadcast
from bot.telegram.callbacks import WarnCb
from bot.usecases.onboarding import add_user, bind_group
from storage.models import AuditEntry, Warning, WarningDelivery
from storage.repositories.warnings import WarningRepo
from tests.conftest import Harness
from tests.http.test_clocks_http import CITY_GROUP, COUNTY_GROUP, texts
from tests.reporting import Reporter

AUTHOR, APPROVER = 1101, 1102


async def setup_publishers(harness: Harness) -> None:
    await harness.seed()
    async with harness.repos() as repos:
        await add_user(repos, "test", AUTHOR, "孙发布", "city", ["publisher"], "13800001101")
        await add_user(repos, "test", APPROVER, "周审批", "city", ["publisher"], "13800001102")
        await bind_group(repos, "test", COUNTY_GROUP, await repos.units.by_code("county"), "县值班群", None)


async def compose(r: Reporter, level: str = "红色", drill: bool = False, roles_done: bool = True) -> str:
    """/warn to the review: rainstorm, the city and its sub-units, everyone, duty groups too."""
    assert "发布预警" in await r.say("/warn")
    await r.tap("自然灾害")
    await r.tap("气象灾害")
    await r.say("暴雨")
    await r.tap(level)
    await r.say("城区及各县 <低洼地带>")
    await r.tap("刚刚")
    await r.tap("24小时后")
    await r.say("预计未来6小时降雨量将达100毫米以上")
    await r.say("停止户外作业，转移低洼地带群众")
    await r.tap("市应急管理局")  # the authority: the publisher's unit, one tap
    await r.tap("跳过")  # no phone
    await r.tap("是" if drill else "否")
    await r.tap("市应急管理局")
    await r.tap("下一步")
    await r.tap("是")  # with sub-units
    await r.tap("下一步")  # every role
    return await r.tap("是")  # duty groups too: the review


async def test_red_warning_needs_another_publisher_then_reaches_everyone(harness: Harness) -> None:
    await setup_publishers(harness)
    api, author = harness.api, Reporter(harness.api, AUTHOR)
    review = await compose(author)
    assert "收件人将看到" in review and "暴雨红色（一级）预警" in review
    assert "&lt;低洼地带&gt;" in api.screen(AUTHOR).raw  # user text escaped in the HTML
    # people of the city and the county (every role, both publishers too) and both duty groups
    assert "收件人：6 人、2 个值班群" in review and "须由另一名发布人审批" in review
    filed = await author.tap("提交")
    assert "等待审批" in filed and "周审批" in filed
    request = await api.wait_for(lambda: [s for s in api.in_chat(APPROVER) if "请审批" in s.text])
    assert "暴雨红色（一级）预警" in request[0].text
    async with harness.repos() as repos:
        warning = await repos.session.scalar(select(Warning))
        assert warning.state == "pending"
        assert await repos.session.scalar(select(WarningDelivery.id)) is None  # nothing sent before approval

    # the author cannot approve their own warning, even with the approver's button
    approve_data = request[0].button("批准")["callback_data"]
    query = await api.press(AUTHOR, request[0], approve_data)
    assert "不能审批自己" in (await api.answer_to(query))["text"]
    # the approver approves: one delivery per recipient, each with its 收到 button
    query = await api.press(APPROVER, request[0], approve_data)
    assert "已批准" in (await api.answer_to(query))["text"]
    told = await api.wait_for(lambda: [t for t in texts(harness, AUTHOR) if "已由 周审批 批准" in t])
    assert "8 个收件人" in told[0]
    recipients = [1001, 1002, 1003, 1004, AUTHOR, APPROVER, CITY_GROUP, COUNTY_GROUP]
    for chat in recipients:
        got = await api.wait_for(
            lambda c=chat: [
                s
                for s in api.in_chat(c)
                if "暴雨红色（一级）预警" in s.text and s.buttons() and "收到" in s.buttons()[0]["text"]
            ]
        )
        assert warning.number in got[0].text
    assert not [s for s in api.in_chat(1005) if "预警" in s.text]  # another county's reporter: not a recipient
    progress = await api.wait_for(lambda: [s for s in api.in_chat(AUTHOR) if "发送完成" in s.text], timeout=15)
    assert "8/8 已送达" in progress[-1].text

    # receipts: the county reporter confirms; a group member confirms for the group
    bulletin = next(s for s in api.in_chat(1002) if warning.number in s.text and s.buttons())
    query = await api.press(1002, bulletin, bulletin.button("收到")["callback_data"])
    assert "已确认收到" in (await api.answer_to(query))["text"]
    query = await api.press(1002, bulletin, bulletin.button("收到")["callback_data"])
    assert "无需重复" in (await api.answer_to(query))["text"]
    in_group = next(s for s in api.in_chat(COUNTY_GROUP) if warning.number in s.text and s.buttons())
    query = await api.press(7777, in_group, in_group.button("收到")["callback_data"])  # unregistered: not for them
    assert "已登记" in (await api.answer_to(query))["text"]
    query = await api.press(1004, in_group, in_group.button("收到")["callback_data"])  # a registered member
    assert "已确认收到" in (await api.answer_to(query))["text"]
    status = await Reporter(api, 1004).say(f"/warnstatus {warning.number}")
    assert "已送达 8" in status and "已确认收到 2" in status and "未确认单位" in status
    before = len(api.in_chat(COUNTY_GROUP))
    await api.send_text(AUTHOR, "/warn", chat_id=COUNTY_GROUP)  # a warning is composed in the private chat
    assert "私聊" in (await api.next_in(COUNTY_GROUP, before)).text
    forged = await api.press(1002, in_group, WarnCb(a="cap", w=warning.id).pack())  # a reporter's forged button
    assert "不在这条消息上" in (await api.answer_to(forged))["text"]  # the bot never put it on that message
    async with harness.repos() as repos:
        audit = await repos.session.scalars(select(AuditEntry).where(AuditEntry.entity == "warning"))
        actions = [a.action for a in audit]
    assert {"warning.submit", "warning.approve", "warning.publish"} <= set(actions)


async def test_rejection_needs_a_reason_and_tells_the_author(harness: Harness) -> None:
    await setup_publishers(harness)
    api, author, approver = harness.api, Reporter(harness.api, AUTHOR), Reporter(harness.api, APPROVER)
    await compose(author, level="橙色")
    await author.tap("提交")
    request = await api.wait_for(lambda: [s for s in api.in_chat(APPROVER) if "请审批" in s.text])
    before = len(api.in_chat(APPROVER))
    await api.press(APPROVER, request[0], request[0].button("驳回")["callback_data"])
    prompt = await api.next_in(APPROVER, before)
    assert "驳回" in prompt.text and prompt.reply_markup and prompt.reply_markup.get("force_reply")
    before = len(api.in_chat(APPROVER))
    replied = api.messages[APPROVER][prompt.message_id]
    await api.send_extra(APPROVER, {"text": "影响区域写错了", "reply_to_message": replied})
    assert "已驳回" in (await api.next_in(APPROVER, before)).text
    told = await api.wait_for(lambda: [t for t in texts(harness, AUTHOR) if "被 周审批 驳回" in t])
    assert "影响区域写错了" in told[0]
    query = await api.press(APPROVER, request[0], request[0].button("批准")["callback_data"])  # a stale button
    assert "已经审批过" in (await api.answer_to(query))["text"]
    assert "没有编号为" in await approver.say("/reject YJ-20000101-999 区域有误")
    async with harness.repos() as repos:
        warning = await repos.session.scalar(select(Warning))
    assert (warning.state, warning.reject_reason) == ("rejected", "影响区域写错了")


async def test_blue_goes_out_at_once_then_adjust_and_lift_reach_the_same_chats(harness: Harness) -> None:
    await setup_publishers(harness)
    api, author = harness.api, Reporter(harness.api, AUTHOR)
    await compose(author, level="蓝色", drill=True)
    filed = await author.tap("提交")
    assert "已发布" in filed
    got = await api.wait_for(lambda: [s for s in api.in_chat(1002) if "演练" in s.text and "蓝色" in s.text])
    assert got[0].text.count("【演练】") == 2  # marked at the top and the bottom
    listing = await author.say("/warnings")
    assert "生效中" in listing and "【演练】" in listing
    await author.tap("调整")
    await author.tap("保持不变")  # event
    await author.tap("黄色")  # the level changes
    for _ in range(6):  # area, onset, expires, text, measures, phone: kept
        screen = api.screen(AUTHOR)
        labels = [b["text"] for b in screen.buttons()]
        if any("保持不变" in x for x in labels):
            await author.tap("保持不变")
        elif any("跳过" in x for x in labels):
            await author.tap("跳过")
    review = api.screen(AUTHOR).text
    assert "预警调整" in review and "级别：🔵蓝色（四级） → 🟡黄色（三级）" in review
    assert "收件人：6 人、2 个值班群" in review
    assert "已发布" in await author.tap("提交")  # yellow, and it was blue: no approval
    update = await api.wait_for(lambda: [s for s in api.in_chat(COUNTY_GROUP) if "预警调整" in s.text])
    assert "蓝色（四级） → 🟡黄色（三级）" in update[0].text
    await author.say("/warnings")
    await author.tap("解除")
    await author.tap("确认解除")
    lifted = await api.wait_for(lambda: [s for s in api.in_chat(1002) if "预警解除" in s.text])
    assert "解除" in lifted[0].text
    assert "已解除" in await author.say("/warnings")
    async with harness.repos() as repos:
        messages = list(await repos.session.scalars(select(Warning).order_by(Warning.id)))
        per_message = [
            len(
                list(
                    await repos.session.scalars(
                        select(WarningDelivery.chat_id).where(WarningDelivery.warning_id == m.id)
                    )
                )
            )
            for m in messages
        ]
    assert [m.msg_type for m in messages] == ["alert", "update", "cancel"]
    assert per_message == [8, 8, 8]
    assert messages[2].refers_id == messages[1].id and messages[1].refers_id == messages[0].id


async def test_the_publisher_sees_the_end_when_a_progress_edit_comes_before_the_answers_are_recorded(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A loaded bot: the progress edit falls between the recipients' answers and their recording (every loop here),
    and answers come in while the ones before them are being written (a slow database)."""
    monkeypatch.setattr(broadcast, "PROGRESS_EVERY", 0.0)
    monkeypatch.setattr(broadcast, "FLUSH_EVERY", 30.0)
    record = WarningRepo.record

    async def slow_record(self: WarningRepo, results: Sequence[dict[str, Any]]) -> None:
        await record(self, results)
        await asyncio.sleep(0.3)

    monkeypatch.setattr(WarningRepo, "record", slow_record)
    await setup_publishers(harness)
    api, author = harness.api, Reporter(harness.api, AUTHOR)
    await compose(author, level="黄色")
    await author.tap("提交")
    done = await api.wait_for(lambda: [s for s in api.in_chat(AUTHOR) if "发送完成" in s.text], timeout=15)
    assert "8/8 已送达" in done[-1].text
    async with harness.repos() as repos:
        assert await repos.session.scalar(select(Warning.finished_at)) is not None


async def test_a_progress_edit_telegram_refuses_is_tried_again(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Server errors on the publisher's last progress edit, past the notifier's own retries: the end still shows."""
    monkeypatch.setattr(broadcast, "PROGRESS_EVERY", 0.0)
    monkeypatch.setattr(broadcast, "FLUSH_EVERY", 30.0)
    harness.app.notifier.attempts = 1
    await setup_publishers(harness)
    api, author = harness.api, Reporter(harness.api, AUTHOR)
    await compose(author, level="黄色")
    for method in ("sendMessage", "editMessageText"):  # the end's message, whichever way it is shown
        api.fail_next(method, "500", count=broadcast.PROGRESS_TRIES - 1, chat_id=AUTHOR, text="发送完成")
    await author.tap("提交")
    done = await api.wait_for(lambda: [s for s in api.in_chat(AUTHOR) if "发送完成" in s.text], timeout=15)
    assert "8/8 已送达" in done[-1].text
    assert len(api.failed_calls) == broadcast.PROGRESS_TRIES - 1


async def test_unconfirmed_recipients_are_reminded_then_their_duty_leader_is_told(harness: Harness) -> None:
    await setup_publishers(harness)
    api, author = harness.api, Reporter(harness.api, AUTHOR)
    await compose(author, level="黄色")
    await author.tap("提交")
    await api.wait_for(lambda: [s for s in api.in_chat(AUTHOR) if "发送完成" in s.text], timeout=15)
    async with harness.repos() as repos:
        sent_at = await repos.session.scalar(select(WarningDelivery.sent_at).where(WarningDelivery.chat_id == 1002))
    before = {c: len(api.in_chat(c)) for c in (1002, 1004, 1003)}
    assert await harness.app.scheduler.tick(sent_at + timedelta(minutes=29)) == 0
    await harness.app.scheduler.tick(sent_at + timedelta(minutes=31))
    reminder = texts(harness, 1002, before[1002])
    assert any("请确认收到预警" in t for t in reminder)
    assert api.in_chat(1002)[-1].button("收到")
    await harness.app.scheduler.tick(sent_at + timedelta(minutes=61))
    leader = [t for t in texts(harness, 1004, before[1004]) if "尚未确认收到" in t]
    assert leader and "县应急管理局" in leader[0] and "李报送" in leader[0]
    # nothing more: one reminder, one notice to the leader
    later = len(api.in_chat(1002))
    await harness.app.scheduler.tick(sent_at + timedelta(hours=5))
    assert len(api.in_chat(1002)) == later
