"""Each row of the authorization table (bot.domain.access) over real HTTP, from the city's own unit, its parent unit,
a sibling unit, a child unit and a stranger: real buttons (on a bot message in the actor's chat) and forged ones."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.telegram.callbacks import AckCb, HandledCb, HandoverCb, PageCb, ReceivedCb, WarnCb
from storage.models import Acknowledgement, AuditEntry, DutyGroup, Incident, Invite, Shift, User, Warning
from tests.conftest import Harness
from tests.reporting import Reporter
from tests.trust import (
    ADMIN,
    BASE,
    CASES,
    DUTY,
    GROUP,
    PUBLISHER,
    PUBLISHER2,
    REPORTER,
    SUBTREE_ALLOWS,
    city_incident,
    city_warning,
    person,
    seed_tree,
)

REFUSED_BUTTON = "不在这条消息上"


async def press_own(h: Harness, actor: int, data: str) -> dict[str, str]:
    """The actor presses a button with `data` on a bot message in their own private chat: a real button as far as
    the message is concerned, so only the authorization table decides."""
    message = h.api.bot_message(actor, "旧消息", data)
    return await h.api.answer_to(await h.api.press(actor, message, data))


async def press_forged(h: Harness, actor: int, data: str) -> dict[str, str]:
    """The actor sends `data` as if pressed on a bot message that does not carry it."""
    message = h.api.bot_message(actor, "另一条消息", PageCb(q="status", p=0).pack())
    return await h.api.answer_to(await h.api.press(actor, message, data))


async def count(h: Harness, q: object) -> int:
    async with h.repos() as r:
        return int(await r.session.scalar(q))  # type: ignore[arg-type]


async def test_lift_and_adjust_a_warning_need_a_publisher_of_its_unit_or_above(harness: Harness) -> None:
    ids = await seed_tree(harness)
    for case in CASES:
        filed = await city_warning(harness, ids["city"])
        actor = person(case, PUBLISHER)
        forged = await press_forged(harness, actor, WarnCb(a="lift_yes", w=filed.warning_id).pack())
        assert REFUSED_BUTTON in forged["text"]
        adjust = await press_own(harness, actor, WarnCb(a="adjust", w=filed.warning_id).pack())
        lift = await press_own(harness, actor, WarnCb(a="lift_yes", w=filed.warning_id).pack())
        lifted = await count(
            harness,
            select(func.count())
            .select_from(Warning)
            .where(Warning.root_id == filed.warning_id, Warning.msg_type == "cancel"),
        )
        if SUBTREE_ALLOWS[case]:
            assert not adjust.get("text") and "已解除" in lift["text"] and lifted == 1, case
        else:
            assert lifted == 0, case
            refusal = "登记" if case == "stranger" else "不属于你所在单位"
            assert refusal in adjust["text"] and refusal in lift["text"], case


async def test_approving_a_red_warning_needs_a_publisher_of_its_unit_or_above(harness: Harness) -> None:
    ids = await seed_tree(harness)
    for case in CASES:
        filed = await city_warning(harness, ids["city"], level="red")
        assert filed.state == "pending"
        approvers = {p.telegram_id for p in filed.approvers}
        assert approvers == {BASE["city"] + PUBLISHER2, BASE["prov"] + PUBLISHER, BASE["prov"] + PUBLISHER2}
        actor = person(case, PUBLISHER2)
        answer = await press_own(harness, actor, WarnCb(a="approve", w=filed.warning_id).pack())
        async with harness.repos() as r:
            state = (await r.warnings.get(filed.warning_id)).state  # type: ignore[union-attr]
        assert (state == "published") == SUBTREE_ALLOWS[case], case
        assert ("已批准" in answer["text"]) == SUBTREE_ALLOWS[case], case


async def test_warnings_are_seen_by_their_unit_above_and_the_units_they_reached(harness: Harness) -> None:
    ids = await seed_tree(harness)
    filed = await city_warning(harness, ids["city"])  # to the city and the units below it
    sees = {"own": True, "parent": True, "child": True, "sibling": False, "stranger": False}
    for case in CASES:
        r = Reporter(harness.api, person(case, DUTY))
        listed, status = await r.say("/warnings"), await r.say(f"/warnstatus {filed.number}")
        assert (filed.number in listed) == sees[case], case
        assert ("已送达" in status or "送达" in status) == sees[case], case
        if case == "sibling":
            assert "没有编号为" in status  # the same answer as for a warning that does not exist
        cap = await press_own(harness, person(case, DUTY), WarnCb(a="cap", w=filed.warning_id).pack())
        assert ("不属于" in cap.get("text", "") or "登记" in cap.get("text", "")) != sees[case], case


async def test_acknowledge_and_handled_need_duty_staff_of_the_unit_or_above(harness: Harness) -> None:
    ids = await seed_tree(harness)
    incident = await city_incident(harness)
    api = harness.api
    alert = await api.wait_for(lambda: [s for s in api.in_chat(GROUP["city"]) if s.buttons()])
    ack = alert[0].button("收到")["callback_data"]
    assert AckCb.unpack(ack)
    for case in ("stranger", "sibling", "child", "own", "parent"):
        answer = await api.answer_to(
            await api.press(person(case, DUTY), alert[0], ack)
        )  # the real button, in the group
        acks = await count(harness, select(func.count()).select_from(Acknowledgement))
        assert ("已确认收到" in answer["text"]) == SUBTREE_ALLOWS[case], (case, answer)
        assert acks == sum(
            SUBTREE_ALLOWS[c]
            for c in ("stranger", "sibling", "child", "own", "parent")[
                : ("stranger", "sibling", "child", "own", "parent").index(case) + 1
            ]
        )
    handled = alert[0].button("处置完毕")["callback_data"]
    assert HandledCb.unpack(handled)
    for case in ("stranger", "sibling", "child"):
        answer = await api.answer_to(await api.press(person(case, DUTY), alert[0], handled))
        assert "已标记处置完毕" not in answer["text"], case
        async with harness.repos() as r:
            assert (await r.incidents.get(incident.id)).status == "open"  # type: ignore[union-attr]
    answer = await api.answer_to(await api.press(person("parent", DUTY), alert[0], handled))
    assert "已标记处置完毕" in answer["text"]
    assert ids


async def test_reopen_and_the_timeline_follow_the_incidents_unit(harness: Harness) -> None:
    await seed_tree(harness)
    incident = await city_incident(harness)
    async with harness.repos() as r:
        (await r.incidents.get(incident.id)).status = "closed"  # type: ignore[union-attr]
    for case in ("stranger", "sibling", "child", "parent"):
        r = Reporter(harness.api, person(case, DUTY))
        timeline = await r.say(f"/incident {incident.number}")
        reopened = await r.say(f"/reopen {incident.number} 伤亡人数有变化")
        allowed = SUBTREE_ALLOWS[case]
        refusal = "登记" if case == "stranger" else "没有编号为"
        assert (refusal in timeline) != allowed and ("已重新开启" in reopened) == allowed, case
        async with harness.repos() as repos:
            assert ((await repos.incidents.get(incident.id)).status == "open") == allowed  # type: ignore[union-attr]


async def test_receipts_are_the_recipients_own(harness: Harness) -> None:
    ids = await seed_tree(harness)
    filed = await city_warning(harness, ids["city"])
    api = harness.api
    mine = await api.wait_for(lambda: [s for s in api.in_chat(BASE["city"] + REPORTER) if s.buttons()], timeout=15)

    async def finished() -> bool:
        async with harness.repos() as r:
            return (await r.warnings.get(filed.warning_id)).finished_at is not None  # type: ignore[union-attr]

    assert await harness.eventually(finished)  # every delivery recorded as sent
    data = mine[0].button("收到")["callback_data"]
    # the same delivery's button, forged in other chats: a sibling's, the child's and a stranger's own chat
    for case in ("sibling", "child", "stranger", "parent"):
        assert REFUSED_BUTTON in (await press_forged(harness, person(case, REPORTER), data))["text"], case
        refusal = "已登记" if case == "stranger" else "不是发给您的"
        assert refusal in (await press_own(harness, person(case, REPORTER), data))["text"], case
    answer = await api.answer_to(await api.press(BASE["city"] + REPORTER, mine[0], data))
    assert "已确认收到" in answer["text"]
    group = await api.wait_for(lambda: [s for s in api.in_chat(GROUP["city"]) if filed.number in s.text])
    in_group = group[0].button("收到")["callback_data"]
    assert ReceivedCb.unpack(in_group)
    answer = await api.answer_to(await api.press(9999, group[0], in_group))  # an unregistered member of the group
    assert "已登记" in answer["text"]


async def test_handover_is_taken_over_by_duty_staff_of_the_unit_or_above(harness: Harness) -> None:
    await seed_tree(harness)
    api = harness.api
    await Reporter(api, BASE["city"] + DUTY).say("/handover 交接")
    posted = await api.wait_for(lambda: [s for s in api.in_chat(GROUP["city"]) if s.buttons()])
    data = posted[0].buttons()[0]["callback_data"]
    assert HandoverCb.unpack(data)
    for case in ("stranger", "sibling", "child"):
        answer = await api.answer_to(await api.press(person(case, DUTY), posted[0], data))
        assert "已接班确认" not in answer["text"], case
    answer = await api.answer_to(await api.press(person("parent", DUTY), posted[0], data))
    assert "已接班确认" in answer["text"]


async def test_binding_a_duty_group_needs_its_units_admin_and_a_telegram_admin(harness: Harness) -> None:
    ids = await seed_tree(harness)
    api, city_group = harness.api, GROUP["city"]
    for case in CASES:
        api.chat_admins[city_group].add(person(case, ADMIN))
    for case, code in (("stranger", ""), ("sibling", ""), ("child", ""), ("sibling", " city2")):
        before = len(api.in_chat(city_group))
        await api.send_text(person(case, ADMIN), f"/bindgroup{code}", chat_id=city_group)
        answer = (await api.next_in(city_group, before)).text
        assert "只有" in answer or "找不到" in answer or "登记" in answer, (case, answer)
    async with harness.repos() as r:
        assert (await r.groups.by_chat(city_group)).unit_id == ids["city"]  # type: ignore[union-attr]
    api.chat_admins[city_group].discard(person("parent", ADMIN))  # a unit admin who is not the group's admin
    before = len(api.in_chat(city_group))
    await api.send_text(person("parent", ADMIN), "/bindgroup", chat_id=city_group)
    assert "群管理员" in (await api.next_in(city_group, before)).text
    api.chat_admins[city_group].add(person("parent", ADMIN))
    before = len(api.in_chat(city_group))
    await api.send_text(person("parent", ADMIN), "/bindgroup", chat_id=city_group)  # the parent takes it
    assert "省应急管理厅" in (await api.next_in(city_group, before)).text
    told = await api.wait_for(lambda: [s for s in api.in_chat(BASE["city"] + ADMIN) if "改绑" in s.text])
    assert "市应急管理局" in told[0].text and "没有值班群" in told[0].text
    async with harness.repos() as r:
        group = await r.session.get(DutyGroup, city_group)
        assert group is not None and group.unit_id == ids["prov"]


async def test_a_roster_is_imported_only_for_the_admins_unit_and_below(harness: Harness) -> None:
    await seed_tree(harness)
    api = harness.api
    roster = "单位,开始,结束,角色,姓名,电话\ncity,2030-06-01 08:00,2030-06-01 20:00,带班领导,假领导,13900000000\n"
    for case in ("sibling", "child", "stranger", "parent"):
        actor = person(case, ADMIN)
        before = len(api.in_chat(actor))
        await api.send_document(actor, "roster.csv", roster.encode(), "text/csv")
        answer = (await api.next_in(actor, before)).text
        shifts = await count(harness, select(func.count()).select_from(Shift))
        if SUBTREE_ALLOWS[case]:
            assert "已导入" in answer and shifts == 1, case
        else:
            assert shifts == 0 and ("不是你管理的单位" in answer or "登记" in answer), (case, answer)


async def test_people_and_invites_are_managed_by_admins_of_their_unit_or_above(harness: Harness) -> None:
    await seed_tree(harness)
    target = BASE["city"] + REPORTER
    for case in ("stranger", "sibling", "child", "parent"):
        r = Reporter(harness.api, person(case, ADMIN))
        answer = await r.say(f"/deactivate {target}")
        async with harness.repos() as repos:
            active = (await repos.users.by_telegram_id(target)).active  # type: ignore[union-attr]
        assert active != SUBTREE_ALLOWS[case], (case, answer)
        if not SUBTREE_ALLOWS[case] and case != "stranger":
            assert "找不到由你管理的用户" in answer
    assert "已重新启用" in await Reporter(harness.api, BASE["city"] + ADMIN).say(f"/reactivate {target}")
    async with harness.repos() as repos:
        audit = [a.action for a in await repos.audit.entries("user")]
        assert "user.deactivate" in audit and "user.reactivate" in audit
        city = await repos.units.by_code("city")
        from bot.usecases.onboarding import create_invite

        invite = await create_invite(repos, "test", "city", "reporter", __import__("datetime").timedelta(days=1))
        code = invite.code
        assert city is not None
    for case in ("sibling", "child", "parent"):
        answer = await Reporter(harness.api, person(case, ADMIN)).say(f"/revoke {code}")
        assert ("已作废" in answer) == SUBTREE_ALLOWS[case], case
    async with harness.repos() as repos:
        invite = await repos.session.get(Invite, code)
        assert invite is not None
        assert (
            await repos.session.scalar(
                select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "invite.revoke")
            )
            == 1
        )
    before = len(harness.api.in_chat(2001))
    await harness.api.send_text(2001, f"/start {code}")  # the revoked invite registers nobody
    assert "过期" in (await harness.api.next_in(2001, before)).text
    async with harness.repos() as repos:
        assert await repos.session.scalar(select(User).where(User.telegram_id == 2001)) is None


async def test_group_chats_get_only_the_groups_own_unit(harness: Harness) -> None:
    ids = await seed_tree(harness)
    incident = await city_incident(harness)
    api, city_group = harness.api, GROUP["city"]

    async def in_group(actor: int, text: str, chat: int = city_group) -> str:
        before = len(api.in_chat(chat))
        await api.send_text(actor, text, chat_id=chat)
        return (await api.next_in(chat, before)).text

    assert incident.number in await in_group(BASE["city"] + DUTY, "/status")  # the group's own unit
    assert incident.number in await in_group(BASE["prov"] + DUTY, "/status")  # a parent's officer, same scope
    assert "无权查看该单位" in await in_group(BASE["county"] + DUTY, "/status")  # a child's officer: not the city
    assert "不是值班群" in await in_group(BASE["city"] + DUTY, "/status", chat=-100999)  # a group of no unit
    for command in ("/mine", "/export", "/handover", "/ledger", "/stats", "/warnings"):
        assert "私聊" in await in_group(BASE["city"] + DUTY, command), command
    assert incident.number not in await in_group(BASE["city"] + DUTY, "/status", chat=GROUP["city2"]) or ids


async def test_a_deactivated_person_stops_at_once_mid_form(harness: Harness) -> None:
    await seed_tree(harness)
    api, reporter = harness.api, Reporter(harness.api, BASE["city"] + REPORTER)
    assert "初报" in await reporter.say("/report")
    screen = api.screen(reporter.uid)
    assert "已停用" in await Reporter(api, BASE["city"] + ADMIN).say(f"/deactivate {reporter.uid}")
    assert "登记" in await reporter.say("/report")  # commands stop
    answer = await api.answer_to(await api.press(reporter.uid, screen, screen.buttons()[0]["callback_data"]))
    assert "登记" in answer["text"]  # and buttons of the open draft
    assert await count(harness, select(func.count()).select_from(Incident)) == 0


async def test_hostile_files_and_values_are_refused_by_name(harness: Harness) -> None:
    from tests import hostile

    await seed_tree(harness)
    api, admin, duty = (
        harness.api,
        Reporter(harness.api, BASE["city"] + ADMIN),
        Reporter(harness.api, BASE["city"] + DUTY),
    )
    for data, expected in (
        (hostile.zip_bomb(), "解压后超过 8 MB"),
        (hostile.too_wide(), "超过 16 列"),
        (hostile.a_million_rows(), "行数超过上限 20000"),
    ):
        before = len(api.in_chat(admin.uid))
        await api.send_document(admin.uid, "roster.xlsx", data, "application/vnd.openxmlformats")
        assert expected in (await api.next_in(admin.uid, before)).text
    assert "超出范围" in await duty.say("/ledger 0001-01-01")
    assert "超出范围" in await duty.say("/stats 9999-12-30..9999-12-31")
    listing = api.bot_message(duty.uid, "旧列表", PageCb(q="status", p=10**20).pack())  # a page number past any OFFSET
    answer = await api.answer_to(await api.press(duty.uid, listing, PageCb(q="status", p=10**20).pack()))
    assert "出错" not in answer.get("text", "")
    redrawn = await api.wait_for(lambda: [s for s in api.in_chat(duty.uid) if s.method == "editMessageText"])
    assert "出错" not in redrawn[-1].text
    texts = "\n".join(s.text for s in api.in_chat(admin.uid) + api.in_chat(duty.uid))
    assert "处理这一步时出错" not in texts


async def test_queries_and_exports_cover_the_persons_unit_and_below_only(harness: Harness) -> None:
    await seed_tree(harness)
    incident = await city_incident(harness)
    for case in CASES:
        ledger = await Reporter(harness.api, person(case, DUTY)).say("/ledger")
        status = await Reporter(harness.api, person(case, DUTY)).say("/status")
        sees = SUBTREE_ALLOWS[case]
        assert (incident.number in ledger) == sees and (incident.number in status) == sees, case
    before = await count(
        harness, select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "export.create")
    )
    assert "私聊" not in await Reporter(harness.api, person("sibling", DUTY)).say("/export")  # their own unit's export
    async with harness.repos() as r:
        audit = list(await r.session.scalars(select(AuditEntry).where(AuditEntry.action == "export.create")))
    assert len(audit) == before + 1
    city2 = BASE["city2"]
    assert audit[-1].actor == f"tg:{city2 + DUTY}" and audit[-1].entity_id != str(incident.unit_id)  # its own tree
