"""联动 dispatch's use cases on a real database (SQLite and PostgreSQL): who may order which units out, who may answer
for a unit (its own people only: not a sibling, a child, a parent or a stranger), the order's number and clocks, the
moves and what a stale or repeated button gets, an arrival near and far, a decline with its reason."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app.settings import DEFAULT_LOCALES_DIR
from bot.domain.dispatch import Move, State, load_policy
from bot.domain.stats import Period
from bot.telegram.desk import summary_text
from bot.telegram.i18n import Catalogs
from bot.usecases.common import AdminError, Config, Refused
from bot.usecases.desk import fire_daily_summaries
from bot.usecases.dispatch import add_linked_unit, candidates, fire_dispatch, order_out, respond
from bot.usecases.onboarding import add_unit, add_user, bind_group
from bot.usecases.stats import stats, write_export
from storage.models import AuditEntry, DispatchPart, Incident, Shift, User
from storage.uow import unit_of_work

POLICY = load_policy()
CONFIG = Config(tz=ZoneInfo("Asia/Shanghai"), default_locale="zh_Hans")
T0 = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
SCENE = (31.2300, 121.4700)


@dataclass
class Office:
    """city ─ county ─ police (linked, tier first) ─ police_squad (a child of the police station)
    city ─ county ─ fire (linked, tier other);  city ─ other_county ─ other_police (linked: a sibling's)"""

    police: int
    fire: int
    other_police: int
    people: dict[str, int]


async def office(sessionmaker: async_sessionmaker[AsyncSession]) -> Office:
    async with unit_of_work(sessionmaker) as r:
        await add_unit(r, "test", "city", "市应急管理局", None)
        county = await add_unit(r, "test", "county", "县应急管理局", "city")
        await add_unit(r, "test", "other_county", "邻县应急管理局", "city")
        await bind_group(r, "test", -100300, county, "县值班群", None)
        police = await add_linked_unit(r, "test", "police", "police", "first", POLICY, "城关派出所", "county")
        fire = await add_linked_unit(r, "test", "fire", "fire", "other", POLICY, "县消防救援大队", "county")
        other = await add_linked_unit(
            r, "test", "other_police", "police", "first", POLICY, "邻县派出所", "other_county"
        )
        await add_unit(r, "test", "police_squad", "城关派出所巡逻中队", "police")
        await bind_group(r, "test", -100400, await r.units.by_code("police"), "派出所值班群", None)
        people = {
            "county_officer": await add_user(r, "test", 2001, "县值班员", "county", ["duty_officer"], None),
            "city_officer": await add_user(r, "test", 2002, "市值班员", "city", ["duty_officer"], None),
            "other_officer": await add_user(r, "test", 2003, "邻县值班员", "other_county", ["duty_officer"], None),
            "county_reporter": await add_user(r, "test", 2004, "县报送员", "county", ["reporter"], None),
            "police_liaison": await add_user(r, "test", 2005, "派出所联络员", "police", ["liaison"], None),
            "squad_liaison": await add_user(r, "test", 2006, "中队联络员", "police_squad", ["liaison"], None),
            "fire_liaison": await add_user(r, "test", 2007, "消防联络员", "fire", ["liaison"], None),
            "other_liaison": await add_user(r, "test", 2008, "邻县联络员", "other_police", ["liaison"], None),
        }
        reporter = people["county_reporter"]
        r.session.add(
            Incident(
                number="KB-20261207-0001",
                unit_id=county.id,
                reporter_id=reporter.id,
                category="accident",
                subtype="traffic",
                suggested_grade="III",
                grade="III",
                occurred_at=T0,
                status="open",
                initial_due_at=T0 + timedelta(hours=2),
                created_at=T0,
                latitude=SCENE[0],
                longitude=SCENE[1],
            )
        )
        return Office(police.id, fire.id, other.id, {k: v.id for k, v in people.items()})


async def person(r, o: Office, who: str) -> User:  # type: ignore[no-untyped-def]
    found = await r.users.get(o.people[who])
    assert found is not None
    return found


async def order(r, user: User, units: list[int], what: str = "封控现场", number: str = "KB-20261207-0001"):  # type: ignore[no-untyped-def]
    return await order_out(r, user, number, units, what, "县医院门口", T0, CONFIG, POLICY)


async def test_who_may_order_which_units_out(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    o = await office(sessionmaker)
    async with unit_of_work(sessionmaker) as r:
        county = await candidates(r, await person(r, o, "county_officer"))
        assert [c.name for c in county] == ["县消防救援大队", "城关派出所"]  # by kind: fire, then police
        city = await candidates(r, await person(r, o, "city_officer"))
        assert {c.name for c in city} == {"县消防救援大队", "城关派出所", "邻县派出所"}  # the parent sees below it
        assert [c.name for c in await candidates(r, await person(r, o, "other_officer"))] == ["邻县派出所"]

    async def order(who: str, units: list[int]) -> str:
        async with unit_of_work(sessionmaker) as r:
            try:
                ordered = await order_out(
                    r,
                    await person(r, o, who),
                    "kb-20261207-0001",
                    units,
                    "封控现场，疏导交通",
                    "县医院门口",
                    T0,
                    CONFIG,
                    POLICY,
                )
            except Refused as refused:
                return refused.msgid
            return ordered.order.number

    assert await order("other_officer", [o.other_police]) == "dispatch.no_incident"  # a sibling's incident
    assert await order("county_reporter", [o.police]) == "dispatch.no_incident"  # not duty staff
    assert await order("county_officer", [o.other_police]) == "dispatch.unit_not_allowed"  # a sibling's linked unit
    assert await order("county_officer", []) == "dispatch.no_units"
    assert await order("county_officer", [o.police, o.fire]) == "LD-20261207-0001"
    assert await order("city_officer", [o.other_police]) == "LD-20261207-0002"  # the parent office may
    async with unit_of_work(sessionmaker) as r:
        parts = (await r.session.scalars(select(DispatchPart).order_by(DispatchPart.id))).all()
        assert [(p.tier, p.due_at - T0, p.next_at - T0) for p in parts[:2]] == [
            ("first", timedelta(minutes=30), timedelta(minutes=5)),
            ("other", timedelta(minutes=40), timedelta(minutes=5)),
        ]
        audit = await r.session.scalar(select(AuditEntry).where(AuditEntry.action == "dispatch.order"))
        assert audit.after["units"] == ["城关派出所", "县消防救援大队"] and audit.actor == "tg:2001"


async def test_only_the_units_own_people_answer_and_a_stale_button_changes_nothing(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    o = await office(sessionmaker)
    async with unit_of_work(sessionmaker) as r:
        ordered = await order_out(
            r,
            await person(r, o, "county_officer"),
            "KB-20261207-0001",
            [o.police],
            "封控现场",
            None,
            T0,
            CONFIG,
            POLICY,
        )
        part_id = ordered.parts[0][0].id
        assert {x.chat_id for x in ordered.recipients[part_id]} == {-100400, 2005}  # its group and its liaison

    async def press(who: str | None, step: Move, **kw: object) -> str:
        async with unit_of_work(sessionmaker) as r:
            user = await person(r, o, who) if who else None
            try:
                done = await respond(r, user, part_id, step, T0 + timedelta(minutes=3), POLICY, **kw)  # type: ignore[arg-type]
            except Refused as refused:
                return refused.msgid
            return done.state.value

    for who in ("other_liaison", "squad_liaison", "county_officer", "city_officer", None):
        # a sibling's liaison, a child unit's, the dispatching (parent) office, the city above it, a stranger
        assert await press(who, Move.ACCEPT) == "dispatch.not_yours", who
    assert await press("police_liaison", Move.ACCEPT) == "accepted"
    assert await press("police_liaison", Move.ACCEPT) == "dispatch.already"  # pressed twice
    assert await press("police_liaison", Move.SCENE_REPORT) == "dispatch.already"  # not there yet
    assert await press("police_liaison", Move.DEPART) == "en_route"
    async with unit_of_work(sessionmaker) as r:
        part = await r.dispatch.part(part_id)
        assert part.accepted_at == part.departed_at == T0 + timedelta(minutes=3)
        assert part.next_at == T0 + timedelta(minutes=15)  # the first reminder, half way to the 30 minutes
        moves = (await r.session.scalars(select(AuditEntry.action).where(AuditEntry.entity == "dispatch_part"))).all()
        assert list(moves) == ["dispatch.accept", "dispatch.depart"]


async def test_arrival_near_far_and_late(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    o = await office(sessionmaker)
    async with unit_of_work(sessionmaker) as r:
        officer = await person(r, o, "county_officer")
        police = (await order(r, officer, [o.police])).parts
        fire = (await order(r, officer, [o.fire], "灭火")).parts
    police_id, fire_id = police[0][0].id, fire[0][0].id
    far = (SCENE[0] + 0.01, SCENE[1])  # about 1.1 km north

    async with unit_of_work(sessionmaker) as r:
        liaison = await person(r, o, "police_liaison")
        at = T0 + timedelta(minutes=29, seconds=59)
        asked = await respond(r, liaison, police_id, Move.ARRIVE, at, POLICY, location=far)
        assert asked.confirm_far and asked.state is State.DISPATCHED  # beyond the radius: confirm first
        assert (await r.dispatch.part(police_id)).arrived_at is None
        done = await respond(r, liaison, police_id, Move.ARRIVE, at, POLICY, location=far, far_confirmed=True)
        part = done.part
        assert done.state is State.ARRIVED and not part.late and 1100 < part.distance_m < 1125
        assert part.next_at == at + timedelta(minutes=15)  # the scene report owed
    async with unit_of_work(sessionmaker) as r:
        liaison = await person(r, o, "fire_liaison")
        late_at = T0 + timedelta(minutes=40, seconds=1)
        part = (await respond(r, liaison, fire_id, Move.ARRIVE, late_at, POLICY, location=SCENE)).part
        assert part.late and part.distance_m == 0.0  # 迟到: a second past the 40 minutes of tier "other"
        part = (
            await respond(r, liaison, fire_id, Move.SCENE_REPORT, late_at, POLICY, report={"situation": "明火已灭"})
        ).part
        assert part.state == "scene_reported" and part.scene_report == {"situation": "明火已灭"}
        part = (await respond(r, liaison, fire_id, Move.FEEDBACK, late_at, POLICY, report={"result": "处置完毕"})).part
        assert part.state == "done" and part.next_at is None


async def test_a_decline_needs_a_reason_and_tells_the_dispatcher(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    o = await office(sessionmaker)
    async with unit_of_work(sessionmaker) as r:
        officer = await person(r, o, "county_officer")
        part_id = (
            (await order_out(r, officer, "KB-20261207-0001", [o.fire], "灭火", None, T0, CONFIG, POLICY)).parts[0][0].id
        )
    async with unit_of_work(sessionmaker) as r:
        liaison = await person(r, o, "fire_liaison")
        with pytest.raises(Refused) as refused:
            await respond(r, liaison, part_id, Move.DECLINE, T0, POLICY, reason="  ")
        assert refused.value.msgid == "dispatch.reason_bad"
        done = await respond(r, liaison, part_id, Move.DECLINE, T0, POLICY, reason="车辆均已出动")
        assert done.tell_dispatcher and done.part.decline_reason == "车辆均已出动" and done.part.next_at is None


async def test_linked_units_are_registered_with_their_kind_and_tier(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await office(sessionmaker)
    async with unit_of_work(sessionmaker) as r:
        with pytest.raises(AdminError, match="unknown kind"):
            await add_linked_unit(r, "test", "county", "navy", "first", POLICY)
        with pytest.raises(AdminError, match="unknown tier"):
            await add_linked_unit(r, "test", "county", "police", "third", POLICY)
        with pytest.raises(AdminError, match="already"):
            await add_linked_unit(r, "test", "police", "police", "first", POLICY)
        with pytest.raises(AdminError, match="unknown unit"):
            await add_linked_unit(r, "test", "nowhere", "water", "other", POLICY)
        water = await add_linked_unit(r, "test", "water", " Water ", "Other", POLICY, "县水务集团", "county")
        assert (water.kind, water.tier) == ("water", "other")


async def test_the_parts_clock_resends_escalates_reminds_and_marks_late_once(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """Tier "first" (30 min), acceptance 5 min with one resend: at 5 min the order goes again to the unit, at 10 min
    the unit's duty leader and the dispatching group are told it is unanswered; once accepted, the liaison is reminded
    at 15 and 24.9 minutes and at 30 minutes the part is 迟到, told to the group and the leader. Each exactly once,
    whatever the scheduler's passes; a restart (a new pass over the same rows) repeats nothing."""
    o = await office(sessionmaker)
    async with unit_of_work(sessionmaker) as r:
        await add_user(r, "test", 2009, "派出所带班", "police", ["duty_leader"], None)
        ordered = await order(r, await person(r, o, "county_officer"), [o.police])
        part_id = ordered.parts[0][0].id

    async def tick(minutes: float) -> list[tuple[int, str]]:
        async with unit_of_work(sessionmaker) as r:
            notices, _more = await fire_dispatch(r, T0 + timedelta(minutes=minutes), POLICY, 100)
        return sorted((n.chat_id, n.kind) for n in notices)

    assert await tick(4.9) == []
    resent = await tick(5)
    assert resent == [(-100400, "resend"), (2005, "resend")]  # the unit's group and its liaison
    assert await tick(5) == []  # the same moment again: nothing twice
    assert await tick(10) == [(-100300, "unanswered"), (2009, "unanswered")]  # the dispatching group, the leader
    async with unit_of_work(sessionmaker) as r:
        await respond(r, await person(r, o, "police_liaison"), part_id, Move.ACCEPT, T0 + timedelta(minutes=11), POLICY)
    assert await tick(14.9) == []
    assert await tick(15) == [(-100400, "remind"), (2005, "remind")]
    assert await tick(25) == [(-100400, "remind"), (2005, "remind")]
    assert await tick(29.99) == []
    assert await tick(30) == [(-100300, "late"), (2009, "late")]
    assert await tick(60) == []  # nothing more until the unit arrives
    async with unit_of_work(sessionmaker) as r:
        part = await r.dispatch.part(part_id)
        assert part.late and part.next_at is None and part.resends == 1
        liaison = await person(r, o, "police_liaison")
        done = await respond(r, liaison, part_id, Move.ARRIVE, T0 + timedelta(minutes=61), POLICY)
        assert done.part.late and done.part.next_at == T0 + timedelta(minutes=76)
    assert await tick(76) == [(-100400, "scene_owed"), (2005, "scene_owed")]
    async with unit_of_work(sessionmaker) as r:
        liaison = await person(r, o, "police_liaison")
        seen = {"situation": "两车相撞"}
        await respond(r, liaison, part_id, Move.SCENE_REPORT, T0 + timedelta(minutes=80), POLICY, report=seen)
    assert await tick(199) == []
    assert await tick(200) == [(-100400, "feedback_owed"), (2005, "feedback_owed")]  # 2 h after the scene report
    async with unit_of_work(sessionmaker) as r:
        clock = (await r.session.scalars(select(AuditEntry).where(AuditEntry.action == "dispatch.clock"))).all()
        did = [a.after["did"] for a in clock]
        assert did == [["resend"], ["unanswered"], ["remind"], ["remind"], ["late"], ["scene_owed"], ["feedback_owed"]]


async def test_the_assessment_in_stats_and_the_export_against_hand_computed_figures(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    """Police (tier first): three orders, arrivals at 20 and 35 minutes (one late), one declined; fire (other): one
    order arriving at exactly 40:00. /stats' figures and the export's sheet say the same as the hand count."""
    o = await office(sessionmaker)
    async with unit_of_work(sessionmaker) as r:
        officer = await person(r, o, "county_officer")
        police_ids = [(await order(r, officer, [o.police])).parts[0][0].id for _ in range(3)]
        fire_id = (await order(r, officer, [o.fire], "灭火")).parts[0][0].id
    steps = [
        ("police_liaison", police_ids[0], Move.ARRIVE, 20),
        ("police_liaison", police_ids[1], Move.ACCEPT, 2),
        ("police_liaison", police_ids[1], Move.ARRIVE, 35),
        ("fire_liaison", fire_id, Move.ARRIVE, 40),
    ]
    for who, part_id, step, minutes in steps:
        async with unit_of_work(sessionmaker) as r:
            await respond(r, await person(r, o, who), part_id, step, T0 + timedelta(minutes=minutes), POLICY)
    async with unit_of_work(sessionmaker) as r:
        await respond(r, await person(r, o, "police_liaison"), police_ids[2], Move.DECLINE, T0, POLICY, reason="忙")
    period = Period("range", T0 - timedelta(hours=1), T0 + timedelta(days=1))
    async with unit_of_work(sessionmaker) as r:
        figures = await stats(r, await person(r, o, "county_officer"), period, T0 + timedelta(hours=2))
        sibling = await stats(r, await person(r, o, "other_officer"), period, T0 + timedelta(hours=2))
    scored = {name: a for name, a in figures.dispatch}
    police, fire = scored["城关派出所"], scored["县消防救援大队"]
    assert (police.orders, police.accepted, police.declined, police.arrived, police.on_time) == (3, 2, 1, 2, 1)
    assert police.on_time_rate == 0.5 and police.median_minutes == 27.5
    assert (fire.orders, fire.arrived, fire.on_time, fire.median_minutes) == (1, 1, 1, 40.0)
    assert sibling.dispatch == ()  # another county's figures do not include these orders
    tr = Catalogs(DEFAULT_LOCALES_DIR, "zh_Hans").translator("zh_Hans")
    async with unit_of_work(sessionmaker) as r:
        county = await r.units.by_code("county")
        path = tmp_path / "export.xlsx"
        await write_export(
            r, county.id, period.start, period.end, "xlsx", path, tr, CONFIG.tz, T0 + timedelta(hours=2), ["dispatch"]
        )
    sheet = openpyxl.load_workbook(path, read_only=True)["联动考核"]
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert rows[0][:3] == ["联动单位", "派单数", "接收"]
    assert sorted(rows[1:]) == [["县消防救援大队", 1, 1, 0, 1, 1, 100, 40], ["城关派出所", 3, 2, 1, 2, 1, 50, 27.5]]


async def test_a_night_order_goes_to_the_staff_the_roster_has_on_duty(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """At 23:00 the fire brigade's order goes to its liaison and to whoever its roster has on duty then (a night
    shift's leader and officer, registered users of the brigade); the day shift's people are not woken."""
    o = await office(sessionmaker)
    night = T0 + timedelta(hours=13)  # 23:00 in Shanghai
    async with unit_of_work(sessionmaker) as r:
        fire = await r.units.by_code("fire")
        leader = await add_user(r, "test", 2101, "夜班带班", "fire", ["duty_leader"], None)
        officer_ = await add_user(r, "test", 2102, "夜班值班员", "fire", ["duty_officer"], None)
        day = await add_user(r, "test", 2103, "白班值班员", "fire", ["duty_officer"], None)

        def shift(start: datetime, hours: int, leaders: list[User], officers: list[User]) -> Shift:
            def who(people: list[User]) -> list[dict[str, object]]:
                return [{"name": p.name, "phone": None, "user_id": p.id} for p in people]

            end = start + timedelta(hours=hours)
            return Shift(
                unit_id=fire.id,
                kind="primary",
                starts_at=start,
                ends_at=end,
                leaders=who(leaders),
                officers=who(officers),
            )

        await r.roster.replace([shift(T0, 10, [], [day]), shift(T0 + timedelta(hours=10), 14, [leader], [officer_])])
        ordered = await order_out(
            r, await person(r, o, "county_officer"), "KB-20261207-0001", [o.fire], "灭火", None, night, CONFIG, POLICY
        )
        chats = {x.chat_id for x in ordered.recipients[ordered.parts[0][0].id]}
    assert chats == {2007, 2101, 2102}  # the liaison and the night shift (no duty group bound for the brigade)


async def test_the_daily_summary_counts_the_days_orders(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    o = await office(sessionmaker)
    async with unit_of_work(sessionmaker) as r:
        officer = await person(r, o, "county_officer")
        police = (await order(r, officer, [o.police])).parts[0][0].id
        await order(r, officer, [o.fire], "灭火")
        await respond(r, await person(r, o, "police_liaison"), police, Move.ARRIVE, T0 + timedelta(minutes=31), POLICY)
    next_morning = datetime(2026, 12, 8, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai
    async with unit_of_work(sessionmaker) as r:
        summaries = await fire_daily_summaries(r, next_morning, CONFIG)
    county = next(s for s in summaries if s.chat_id == -100300)
    assert county.figures["dispatch"] == {"units": 2, "arrived": 1, "late": 1, "declined": 0}
    tr = Catalogs(DEFAULT_LOCALES_DIR, "zh_Hans").translator("zh_Hans")
    assert "联动派单：派出单位 2 个次，到场 1，迟到 1，无法执行 0" in summary_text(county, tr)
