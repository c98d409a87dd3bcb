"""联动 dispatch over real HTTP: a duty officer orders two linked units out to a filed incident; the units' chats get
the order with its buttons; people of other units (a parent office, a sibling unit's, a stranger) are refused; one unit
accepts and arrives with its location, then sends the scene report; the other declines with a reason and the
dispatcher is told; the dispatching duty group hears every move."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from bot.app.sandbox.botapi import FakeBotAPI
from bot.domain.dispatch import load_policy
from bot.usecases.dispatch import add_linked_unit
from bot.usecases.onboarding import add_user, bind_group
from storage.models import AuditEntry, DispatchOrder, DispatchPart
from tests.conftest import Harness, running
from tests.http.test_report_http import COUNTY_GROUP, fill_until_review
from tests.reporting import Reporter

POLICE_GROUP = -100400
POLICE_LIAISON, FIRE_LIAISON, SIBLING_LIAISON, SIBLING_OFFICER = 3001, 3002, 3003, 3004


async def office(harness: Harness) -> str:
    """The seeded office with the county's duty group, two linked units under the county and one under the sibling
    county, and an incident filed by the county's reporter (at 31.23, 121.47)."""
    await harness.seed()
    policy = load_policy()
    async with harness.repos() as r:
        await bind_group(r, "test", COUNTY_GROUP, await r.units.by_code("county"), "县值班群", None)
        await add_linked_unit(r, "test", "police", "police", "first", policy, "城关派出所", "county")
        await add_linked_unit(r, "test", "fire", "fire", "other", policy, "县消防救援大队", "county")
        await add_linked_unit(r, "test", "traffic", "traffic", "first", policy, "县交警大队", "county")
        await add_linked_unit(r, "test", "other_police", "police", "first", policy, "邻县派出所", "other")
        await bind_group(r, "test", POLICE_GROUP, await r.units.by_code("police"), "派出所值班群", None)
        await add_user(r, "test", POLICE_LIAISON, "派出所联络员", "police", ["liaison"], "13900000001")
        await add_user(r, "test", FIRE_LIAISON, "消防联络员", "fire", ["liaison"], None)
        await add_user(r, "test", SIBLING_LIAISON, "邻县联络员", "other_police", ["liaison"], None)
        await add_user(r, "test", SIBLING_OFFICER, "邻县值班员", "other", ["duty_officer"], None)
    reporter = Reporter(harness.api, 1002)
    await fill_until_review(reporter)
    done = await reporter.tap("提交")
    found = re.search(r"KB-\d{8}-\d{4}", done)
    assert found, done
    return found.group(0)


async def order_out_by(officer: Reporter, number: str, units: list[str], instruction: str) -> str:
    """The order form filled in by a duty officer (no meeting point); the order's number."""
    await officer.say(f"/dispatch {number}")
    for name in units:
        await officer.tap(name)
    await officer.tap("下一步")
    await officer.say(instruction)
    await officer.tap("跳过")
    found = re.search(r"LD-\d{8}-\d{4}", await officer.tap("提交"))
    assert found, "no order number"
    return found.group(0)


async def test_an_order_goes_out_and_each_unit_answers_for_itself(harness: Harness) -> None:
    number = await office(harness)
    api, officer = harness.api, Reporter(harness.api, 1004)  # the county's duty leader and officer

    assert "用法" in await officer.say("/dispatch")
    assert "没有找到" in await officer.say("/dispatch KB-20990101-0001")
    screen = await officer.say(f"/dispatch {number}")
    assert f"事件 {number} 联动派单" in screen
    assert "邻县派出所" not in " ".join(officer.buttons())  # a sibling county's unit is not offered
    await officer.tap("城关派出所")
    await officer.tap("县消防救援大队")
    await officer.tap("下一步")
    await officer.say("封控现场，疏导交通 <注意> & 安全")
    review = await officer.tap("跳过")
    assert "城关派出所" in review and "封控现场，疏导交通 &lt;注意&gt; &amp; 安全" not in review  # shown as typed
    done = await officer.tap("提交")
    order_number = re.search(r"LD-\d{8}-\d{4}", done).group(0)
    assert "已发出" in done

    police_order = await api.wait_for(lambda: [m for m in api.in_chat(POLICE_GROUP) if order_number in m.text])
    assert "到场时限：30 分钟" in police_order[0].text and "封控现场，疏导交通 <注意> & 安全" in police_order[0].text
    assert [b["text"] for b in police_order[0].buttons()] == ["✅ 接收", "❌ 无法执行", "🚗 已出发", "📍 已到达"]
    liaison_copy = await api.wait_for(lambda: [m for m in api.in_chat(POLICE_LIAISON) if order_number in m.text])
    fire_copy = await api.wait_for(lambda: [m for m in api.in_chat(FIRE_LIAISON) if order_number in m.text])
    assert "到场时限：40 分钟" in fire_copy[0].text

    def board(*parts: str) -> list:  # type: ignore[type-arg]
        """The dispatching group's board as it is now, when it shows all of `parts`."""
        now: dict[int, object] = {}
        for m in api.in_chat(COUNTY_GROUP):
            if f"派单看板 {order_number}" in m.text:
                now[m.message_id] = m
        return [m for m in now.values() if all(p in m.text for p in parts)]  # type: ignore[attr-defined]

    assert await api.wait_for(lambda: board("城关派出所：已派单", "县消防救援大队：已派单"))

    accept = police_order[0].button("接收")["callback_data"]
    # the dispatching office, the city above it, a sibling county's officer and liaison, another unit's, a stranger
    for who in (1004, 1003, SIBLING_OFFICER, SIBLING_LIAISON, FIRE_LIAISON, 9999):
        answer = await api.answer_to(await api.press(who, police_order[0], accept))
        assert "只有“城关派出所”的联络员或值班人员" in answer["text"], who
    answer = await api.answer_to(await api.press(POLICE_LIAISON, police_order[0], accept))
    assert answer["text"] == "已记录：已接收"
    edited = await api.wait_for(
        lambda: [m for m in api.in_chat(POLICE_GROUP) if m.method == "editMessageText" and "状态：已接收" in m.text]
    )
    assert [b["text"] for b in edited[-1].buttons()] == ["🚗 已出发", "📍 已到达", "❌ 无法执行"]
    again = await api.answer_to(await api.press(POLICE_LIAISON, police_order[0], accept))  # no longer on the message
    assert "此按钮已不在这条消息上" in again["text"]
    copy = liaison_copy[0]  # the liaison's own copy still shows 接收: accepted already
    again = await api.answer_to(await api.press(POLICE_LIAISON, copy, copy.button("接收")["callback_data"]))
    assert "已处理过" in again["text"]
    assert await api.wait_for(lambda: board("城关派出所：已接收"))

    # the fire brigade cannot go: a reason, and the dispatcher hears it at once
    fire = Reporter(api, FIRE_LIAISON)
    assert "请选择无法执行的原因" in await fire.tap("无法执行")
    await fire.tap("人员车辆均已出动")
    told = await api.wait_for(lambda: [m for m in api.in_chat(1004) if "无法执行" in m.text and order_number in m.text])
    assert "人员车辆均已出动" in told[-1].text and f"/dispatch {number}" in told[-1].text
    # offered other units at once: the dispatcher sends the traffic squad instead
    screen = await officer._after(api.press(1004, told[-1], told[-1].button("增派单位")["callback_data"]))
    assert "增派单位" in "\n".join(m.text for m in screen) and officer.buttons()[0].endswith(
        "县交警大队（30 分钟到场）"
    )
    await officer.tap("县交警大队")
    await officer.tap("下一步")
    await officer.tap("保持不变")
    await officer.tap("跳过")
    assert "县交警大队" in await officer.tap("提交")

    # the police arrive: the location, at the incident's coordinates
    police = Reporter(api, POLICE_LIAISON)
    assert "请发送当前位置" in await police.tap("已到达")
    arrived = await police.share_location(31.2301, 121.4700)
    assert "已到达，距事发地 11 米" in arrived
    assert await api.wait_for(lambda: board("城关派出所：已到达", "距事发地 11 米", "县消防救援大队：无法执行"))
    await police.tap("现场反馈")
    await police.say("两车相撞，道路单向通行")
    await police.tap("跳过")
    await police.tap("不需要")
    done = await police.tap("提交")
    assert "现场反馈已提交" in done
    assert await api.wait_for(lambda: board("城关派出所：已现场反馈", "现场反馈：两车相撞，道路单向通行\n"))
    boards = [m for m in api.in_chat(COUNTY_GROUP) if m.method == "sendMessage" and "派单看板" in m.text]
    edits = [m for m in api.in_chat(COUNTY_GROUP) if m.method == "editMessageText" and "派单看板" in m.text]
    assert len(boards) == 1 and 3 <= len(edits) <= 6  # one board, edited in place; moves close together coalesce
    assert [m.text for m in api.in_chat(COUNTY_GROUP) if "派单" in m.text and "看板" not in m.text] == []

    timeline = await officer.say(f"/incident {number}")
    assert f"联动派单 {order_number}：城关派出所、县消防救援大队" in timeline
    assert officer.buttons() == ["🚨 联动派单"]  # duty staff may order more units out from here
    await Reporter(api, 1002).say(f"/incident {number}")
    assert not api.in_chat(1002)[-1].buttons()  # the reporter sees the timeline, no button
    assert (
        "城关派出所 接收派单" in timeline
        and "县消防救援大队 无法执行派单" in timeline
        and "人员车辆均已出动" in timeline
    )
    assert "城关派出所 到达现场" in timeline and "城关派出所 现场反馈" in timeline
    async with harness.repos() as r:
        order = await r.session.scalar(select(DispatchOrder))
        assert order.number == order_number and order.instruction == "封控现场，疏导交通 <注意> & 安全"
        parts = {p.linked_unit_id: p for p in (await r.session.scalars(select(DispatchPart))).all()}
        states = sorted((p.state, p.decline_reason) for p in parts.values())
        assert states == [("declined", "人员车辆均已出动"), ("dispatched", None), ("scene_reported", None)]
        police_part = next(p for p in parts.values() if p.state == "scene_reported")
        assert not police_part.late and 10 < police_part.distance_m < 12
        assert police_part.scene_report["situation"] == "两车相撞，道路单向通行"
        moves = (await r.session.scalars(select(AuditEntry.action).where(AuditEntry.entity == "dispatch_part"))).all()
        assert sorted(moves) == ["dispatch.accept", "dispatch.arrive", "dispatch.decline", "dispatch.scene_report"]
    assert liaison_copy


async def test_dispatch_is_refused_to_who_may_not_and_in_groups(harness: Harness) -> None:
    number = await office(harness)
    api = harness.api
    assert "只有值班人员可以联动派单" in await Reporter(api, 1002).say(f"/dispatch {number}")  # a reporter
    assert "没有找到" in await Reporter(api, SIBLING_OFFICER).say(f"/dispatch {number}")  # another county's incident
    before = len(api.in_chat(COUNTY_GROUP))
    await api.send_text(1004, f"/dispatch {number}", chat_id=COUNTY_GROUP)
    in_group = await api.settle(COUNTY_GROUP, before)
    assert "请在与机器人的私聊中" in in_group[-1].text
    async with harness.repos() as r:
        assert await r.session.scalar(select(DispatchOrder)) is None


async def test_the_dispatcher_adds_units_then_closes_the_order(harness: Harness) -> None:
    number = await office(harness)
    api, officer = harness.api, Reporter(harness.api, 1004)
    order_number = await order_out_by(officer, number, ["城关派出所"], "封控现场")

    listing = await officer.say("/dispatches")
    assert order_number in listing and "城关派出所：已派单" in listing
    received = await Reporter(api, POLICE_LIAISON).say("/dispatches")  # the unit's own open orders, with buttons
    assert order_number in received and "接收" in " ".join(Reporter(api, POLICE_LIAISON).buttons())
    assert "没有进行中的派单" in await Reporter(api, FIRE_LIAISON).say("/dispatches")  # nothing for the brigade yet
    assert "没有进行中的派单" in await Reporter(api, SIBLING_OFFICER).say("/dispatches")  # a sibling county's
    screen = await officer.tap("增派单位")
    assert "增派单位" in screen and "城关派出所" not in " ".join(officer.buttons())  # only units not in it yet
    await officer.tap("县消防救援大队")
    prompt = await officer.tap("下一步")
    assert "当前：封控现场" in prompt  # the order's instruction, to keep or change
    await officer.say("封控现场，组织灭火")
    await officer.tap("跳过")
    done = await officer.tap("提交")
    assert order_number in done and "县消防救援大队" in done
    fire = await api.wait_for(lambda: [m for m in api.in_chat(FIRE_LIAISON) if order_number in m.text])
    assert "封控现场，组织灭火" in fire[0].text

    await officer.say("/dispatches")
    close_screen = api.screen(1004)
    close = close_screen.button("关闭")["callback_data"]
    stranger = await api.answer_to(await api.press(SIBLING_OFFICER, close_screen, close))
    assert "这条派单已不存在" in stranger["text"]
    answer = await api.answer_to(await api.press(1004, close_screen, close))
    assert "已关闭" in answer["text"]
    async with harness.repos() as r:
        order = await r.session.scalar(select(DispatchOrder))
        parts = (await r.session.scalars(select(DispatchPart))).all()
        assert order.state == "closed" and sorted(p.state for p in parts) == ["withdrawn", "withdrawn"]
        assert all(p.next_at is None for p in parts)  # their clocks stopped
    police = (await api.wait_for(lambda: [m for m in api.in_chat(POLICE_GROUP) if order_number in m.text]))[0]
    late = await api.answer_to(await api.press(POLICE_LIAISON, police, police.button("接收")["callback_data"]))
    assert "已关闭" in late["text"]
    assert await api.wait_for(lambda: [m for m in api.in_chat(COUNTY_GROUP) if "派单已关闭" in m.text])
    assert "没有进行中的派单" in await officer.say("/dispatches")


async def test_the_alerts_dispatch_button_opens_the_order_in_private_for_duty_staff_only(harness: Harness) -> None:
    number = await office(harness)
    api = harness.api
    alert = (await api.wait_for(lambda: [m for m in api.in_chat(COUNTY_GROUP) if number in m.text and m.buttons()]))[0]
    press = alert.button("联动派单")["callback_data"]
    refused = await api.answer_to(await api.press(1002, alert, press))  # the reporter: not duty staff
    assert "没有找到您可以派单的事件" in refused["text"]
    told = await api.answer_to(await api.press(1004, alert, press))
    assert "私聊" in told["text"]
    go_on = await api.wait_for(lambda: [m for m in api.in_chat(1004) if "开始联动派单" in m.text])
    screen = Reporter(api, 1004)
    opened = "\n".join(
        s.text for s in await screen._after(api.press(1004, go_on[-1], go_on[-1].button("继续")["callback_data"]))
    )
    assert f"事件 {number} 联动派单" in opened and "城关派出所" in " ".join(screen.buttons())


async def test_an_order_survives_a_restart_its_buttons_and_its_clock(fake_api: FakeBotAPI, db_url: str) -> None:
    """The bot stops with an order unanswered and starts again: the unit's old message still works, and the clock
    (the order re-sent at 5 minutes, 迟到 at 30) comes due once from the database, not from memory."""
    async with running(fake_api, db_url) as first:
        number = await office(first)
        officer = Reporter(fake_api, 1004)
        order_number = await order_out_by(officer, number, ["城关派出所"], "封控现场")
        async with first.repos() as r:
            part = await r.session.scalar(select(DispatchPart))
            ordered_at, part_id = part.dispatched_at, part.id
    sent = await fake_api.wait_for(lambda: [m for m in fake_api.in_chat(POLICE_GROUP) if order_number in m.text])
    order_message = sent[0]
    async with running(fake_api, db_url) as second:  # another process, as after a restart
        assert await second.app.scheduler.tick(ordered_at + timedelta(minutes=5)) >= 2  # re-sent: group and liaison
        resent = [m for m in fake_api.in_chat(POLICE_LIAISON) if "尚未接收" in m.text]
        assert len(resent) == 1 and order_number in resent[0].text
        await second.app.scheduler.tick(ordered_at + timedelta(minutes=5))
        assert len([m for m in fake_api.in_chat(POLICE_LIAISON) if "尚未接收" in m.text]) == 1  # not twice
        accept = order_message.button("接收")["callback_data"]
        answer = await fake_api.answer_to(await fake_api.press(POLICE_LIAISON, order_message, accept))
        assert answer["text"] == "已记录：已接收"
        await second.app.scheduler.tick(ordered_at + timedelta(minutes=30))
        late = await fake_api.wait_for(lambda: [m for m in fake_api.in_chat(COUNTY_GROUP) if "仍未报到达" in m.text])
        assert order_number in late[-1].text
        async with second.repos() as r:
            part = await r.dispatch.part(part_id)
            assert part.state == "accepted" and part.late and part.resends == 1


async def test_an_administrator_lists_and_registers_linked_units_in_chat(harness: Harness) -> None:
    await office(harness)
    admin = Reporter(harness.api, 1001)  # the city's administrator
    listing = await admin.say("/linked")
    assert "城关派出所：公安，first（30 分钟到场）" in listing  # the city's tree
    assert "邻县派出所" not in listing  # the other county is no part of it
    added = await admin.say("/linked add water water other county 县水务集团")
    assert "已登记联动单位：县水务集团（供水，40 分钟到场）" in added
    assert "单位 water 已是联动单位" in await admin.say("/linked add water water other county 县水务集团")
    assert "没有代码为 nowhere 的单位" in await admin.say("/linked add nowhere water other")
    async with harness.repos() as r:
        water = await r.units.by_code("water")
        assert water is not None and (await r.units.get(water.parent_id)).code == "county"


async def test_many_moves_at_once_make_few_board_edits_and_the_board_ends_true(harness: Harness) -> None:
    """Six units answer within a second or two: the board is edited a few times, not once per move (a group takes
    20 messages a minute), and its last edit shows every unit as it stands."""
    number = await office(harness)
    api = harness.api
    policy = load_policy()
    async with harness.repos() as r:
        for n in range(4):
            await add_linked_unit(r, "test", f"extra{n}", "health", "other", policy, f"卫生院{n}", "county")
            await add_user(r, "test", 3100 + n, f"卫生院{n}联络员", f"extra{n}", ["liaison"], None)
    officer = Reporter(api, 1004)
    units = ["城关派出所", "县消防救援大队", "卫生院0", "卫生院1", "卫生院2", "卫生院3"]
    order_number = await order_out_by(officer, number, units, "全力救援")
    liaisons = [POLICE_LIAISON, FIRE_LIAISON, 3100, 3101, 3102, 3103]
    copies = [
        (await api.wait_for(lambda uid=uid: [m for m in api.in_chat(uid) if order_number in m.text]))[0]
        for uid in liaisons
    ]
    drawn = await api.wait_for(lambda: [m for m in api.in_chat(COUNTY_GROUP) if "派单看板" in m.text])
    before = len(drawn)
    for uid, copy in zip(liaisons, copies, strict=True):  # twelve moves, as fast as the presses go
        await api.answer_to(await api.press(uid, copy, copy.button("接收")["callback_data"]))
    for uid in liaisons:
        screen = api.screen(uid)
        await api.answer_to(await api.press(uid, screen, screen.button("已出发")["callback_data"]))

    def final() -> list:  # type: ignore[type-arg]
        boards = [m for m in api.in_chat(COUNTY_GROUP) if "派单看板" in m.text]
        return boards if boards and boards[-1].text.count("：已出发") == 6 else []

    boards = await api.wait_for(final, timeout=20)
    edits = len(boards) - before
    assert 1 <= edits <= 6  # twelve moves, a handful of edits
    assert len([m for m in boards if m.method == "sendMessage"]) == 1


async def test_a_live_location_checks_the_unit_in_once_inside_the_radius(harness: Harness) -> None:
    number = await office(harness)
    api, officer = harness.api, Reporter(harness.api, 1004)
    order_number = await order_out_by(officer, number, ["城关派出所"], "封控现场")
    police = Reporter(api, POLICE_LIAISON)
    await api.wait_for(lambda: [m for m in api.in_chat(POLICE_LIAISON) if order_number in m.text])
    await police.tap("接收")
    assert "请发送当前位置" in await police.tap("已到达")
    before = len(api.in_chat(POLICE_LIAISON))
    first = await api.share_live_location(POLICE_LIAISON, 31.25, 121.47)  # about 2.2 km north
    far = await api.settle(POLICE_LIAISON, before)
    assert "进入现场范围后将自动报到" in far[-1].text
    async with harness.repos() as r:
        assert (await r.session.scalar(select(DispatchPart))).arrived_at is None
    before = len(api.in_chat(POLICE_LIAISON))
    await api.move_live_location(POLICE_LIAISON, first, 31.235, 121.47)  # still 550 m away: nothing said
    await api.move_live_location(POLICE_LIAISON, first, 31.2320, 121.47)  # 220 m: inside the 500 m radius
    arrived = await api.settle(POLICE_LIAISON, before)
    assert "已到达，距事发地 222 米" in "\n".join(m.text for m in arrived)
    async with harness.repos() as r:
        part = await r.session.scalar(select(DispatchPart))
        assert part.state == "arrived" and 215 < part.distance_m < 230


async def test_an_administrator_sends_a_linked_unit_file(harness: Harness) -> None:
    await office(harness)
    api = harness.api
    bad = (
        "单位代码,单位名称,上级单位,类别,分级\nwater,县水务集团,county,water,other\ngas,县燃气公司,county,coal,other\n"
    )
    before = len(api.in_chat(1001))
    await api.send_document(1001, "联动单位.csv", bad.encode(), mime="text/csv", caption="/linked")
    answer = "\n".join(m.text for m in await api.settle(1001, before))
    assert "未登记任何单位" in answer and "第 3 行：类别“coal”不存在" in answer
    async with harness.repos() as r:
        assert await r.units.by_code("water") is None  # nothing of the file
    good = "code,name,parent,kind,tier\nwater,县水务集团,county,water,other\n"
    before = len(api.in_chat(1001))
    await api.send_document(1001, "linked.csv", good.encode(), mime="text/csv", caption="/linked")
    assert "已登记 1 个联动单位：water" in "\n".join(m.text for m in await api.settle(1001, before))
    before = len(api.in_chat(1004))
    await api.send_document(1004, "linked.csv", good.encode(), mime="text/csv", caption="/linked")  # not an admin
    assert "已登记" not in "\n".join(m.text for m in await api.settle(1004, before))
