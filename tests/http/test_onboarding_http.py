"""Onboarding through the real dispatcher and the fake Bot API over HTTP."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.usecases.onboarding import create_invite
from storage.models import AuditEntry, DutyGroup, User
from tests.conftest import Harness


async def test_unregistered_user_gets_one_polite_answer_and_nothing_else(harness: Harness) -> None:
    api = harness.api
    await api.send_text(5555, "你好")
    await api.send_text(5555, "/help")
    await api.send_sticker(5555)
    msgs = [await api.next_in(5555, i) for i in range(3)]
    assert all("邀请链接" in m.text for m in msgs)
    assert all(m.reply_markup is None for m in msgs)
    assert len(api.in_chat(5555)) == 3


async def test_invite_link_registers_once_and_expired_codes_are_refused(harness: Harness) -> None:
    await harness.seed()
    async with harness.repos() as r:
        good = await create_invite(r, "test", "county", "reporter", timedelta(days=7))
        old = await create_invite(r, "test", "county", "reporter", timedelta(days=7))
        old.expires_at = old.created_at - timedelta(seconds=1)
    api = harness.api
    await api.send_text(7001, f"/start {good.code}", language_code="en")
    reply = await api.next_in(7001, 0)
    assert "You are registered" in reply.text and "县应急管理局" in reply.text
    assert "/report" in reply.text  # the reporter's commands are listed

    await api.send_text(7002, f"/start {good.code}")
    assert "已被使用" in (await api.next_in(7002, 0)).text
    await api.send_text(7003, f"/start {old.code}")
    assert "已过期" in (await api.next_in(7003, 0)).text
    await api.send_text(7004, "/start nonsense-code")
    assert "邀请码无效" in (await api.next_in(7004, 0)).text

    async with harness.repos() as r:
        user = await r.users.by_telegram_id(7001)
        assert user is not None and user.roles == {"reporter"}
        assert (await r.units.get(user.unit_id)).code == "county"
        assert await r.users.by_telegram_id(7002) is None
        actions = [e.action for e in await r.audit.entries("user")]
        assert "invite.redeem" in actions


async def test_help_lists_only_what_the_roles_allow(harness: Harness) -> None:
    await harness.seed()
    api = harness.api
    await api.send_text(1002, "/help")
    reporter_help = (await api.next_in(1002, 0)).text
    await api.send_text(1001, "/help")
    admin_help = (await api.next_in(1001, 0)).text
    assert "/report" in reporter_help and "/bindgroup" not in reporter_help
    assert "/bindgroup" in admin_help
    assert "信息报送员" in reporter_help


async def test_lang_switches_language_and_is_stored(harness: Harness) -> None:
    await harness.seed()
    api = harness.api
    await api.send_text(1002, "/lang")
    menu = await api.next_in(1002, 0)
    query = await api.press(1002, menu, menu.button("English")["callback_data"])
    await api.answer_to(query)
    edited = await api.next_in(1002, 1)
    assert edited.method == "editMessageText" and edited.text == "Language set to English."
    # the choice beats Telegram's language_code from now on
    await api.send_text(1002, "/help", language_code="zh-hans")
    assert "Commands you can use" in (await api.next_in(1002, 2)).text
    async with harness.repos() as r:
        assert (await r.users.by_telegram_id(1002)).locale == "en"


async def test_bindgroup_by_admin_only(harness: Harness) -> None:
    await harness.seed()
    api = harness.api
    group = -100777
    api.chat_admins[group].add(1001)
    await api.send_text(1003, "/bindgroup", chat_id=group)
    assert "只有管理员" in (await api.next_in(group, 0)).text
    await api.send_text(9999, "/bindgroup", chat_id=group)
    assert "只有管理员" in (await api.next_in(group, 1)).text
    await api.send_text(1001, "/bindgroup nosuch", chat_id=group)
    assert "找不到单位" in (await api.next_in(group, 2)).text
    await api.send_text(1001, "/bindgroup other", chat_id=group)  # not below the admin's unit
    assert "找不到单位" in (await api.next_in(group, 3)).text
    await api.send_text(1001, "/bindgroup county", chat_id=group)
    assert "县应急管理局" in (await api.next_in(group, 4)).text
    await api.send_text(1001, "/bindgroup")
    assert "请在要绑定的群聊中" in (await api.next_in(1001, 0)).text
    async with harness.repos() as r:
        bound = await r.session.scalar(select(DutyGroup).where(DutyGroup.chat_id == group))
        assert bound is not None
        unit = await r.units.get(bound.unit_id)
        assert unit is not None and unit.code == "county"
        assert (await r.session.scalar(select(AuditEntry).where(AuditEntry.action == "group.bind"))) is not None
        assert (await r.session.scalar(select(User).where(User.telegram_id == 9999))) is None


async def test_group_upgrade_keeps_the_binding(harness: Harness) -> None:
    await harness.seed()
    await harness.api.send_extra(1001, {"migrate_to_chat_id": -100200999}, chat_id=-100200)

    async def moved() -> bool:
        async with harness.repos() as r:
            return await r.groups.by_chat(-100200999) is not None and await r.groups.by_chat(-100200) is None

    assert await harness.eventually(moved)
