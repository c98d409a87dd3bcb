"""The duty roster: import by an administrator's file (CSV and XLSX) and by the CLI, every bad row named with
its line and nothing imported; /duty now and next with phones; on duty across midnight and at the shift
boundaries; the duty group told at a shift change; escalations mention the leader on duty."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from bot.app.sandbox.botapi import FakeBotAPI
from bot.usecases.common import duty_leaders
from bot.usecases.onboarding import add_user, bind_group
from storage.models import Handover, Shift
from tests.conftest import Harness
from tests.http.test_clocks_http import file_county_report
from tests.reporting import Reporter
from tests.subproc import bot_env, cli

TZ = ZoneInfo("Asia/Shanghai")
HEADER = "单位,开始,结束,角色,姓名,电话,班次"


def local(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=TZ)


def roster_csv(day: datetime) -> bytes:
    """The county: day shift 08:00–20:00, night shift 20:00–08:00 (across midnight); the city: one day shift."""
    d, n = day.strftime("%Y-%m-%d"), (day + timedelta(days=1)).strftime("%Y-%m-%d")
    rows = [
        HEADER,
        f"county,{d} 08:00,{d} 20:00,带班领导,赵带班,13800000004,主班",
        f"county,{d} 08:00,{d} 20:00,值班员,李报送,13800000002,主班",
        f"county,{d} 20:00,{n} 08:00,带班领导,孙夜班,13900000009,主班",
        f"county,{d} 20:00,{n} 08:00,值班员,周夜值,,主班",
        f"city,{d} 08:00,{d} 20:00,leader,王管理,13800000001,primary",
    ]
    return ("\n".join(rows) + "\n").encode("utf-8-sig")


def write(path: str, data: bytes) -> None:
    Path(path).write_bytes(data)


async def import_file(api: FakeBotAPI, name: str, data: bytes) -> str:
    before = len(api.in_chat(1001))
    await api.send_document(1001, name, data, mime="text/csv")
    return (await api.settle(1001, before))[-1].text


async def test_a_good_roster_by_file_then_duty_now_and_next_and_the_shift_change_notice(harness: Harness) -> None:
    await harness.seed()
    async with harness.repos() as repos:
        await bind_group(repos, "test", -100300, await repos.units.by_code("county"), "县值班群", None)
    api = harness.api
    day = datetime.now(TZ).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    answer = await import_file(api, "值班表.csv", roster_csv(day))
    assert "值班表已导入：3 个班次，2 个单位" in answer
    async with harness.repos() as repos:
        county = await repos.units.by_code("county")
        # across midnight and at the boundaries: the start belongs to the shift, the end to the next
        at = {
            t: [s.leaders[0]["name"] for s in await repos.roster.running(county.id, local(t))]
            for t in (
                f"{day:%Y-%m-%d} 08:00",
                f"{day:%Y-%m-%d} 19:59",
                f"{day:%Y-%m-%d} 20:00",
                f"{day + timedelta(days=1):%Y-%m-%d} 02:00",
                f"{day + timedelta(days=1):%Y-%m-%d} 08:00",
                f"{day:%Y-%m-%d} 07:59",
            )
        }
        leader = await duty_leaders(repos, county.id, local(f"{day:%Y-%m-%d} 09:00"))
        nobody = await duty_leaders(repos, county.id, local(f"{day:%Y-%m-%d} 21:00"))
    assert list(at.values()) == [["赵带班"], ["赵带班"], ["孙夜班"], ["孙夜班"], [], []]
    # the day leader is a user of the county (linked by phone): escalations mention them; the night leader is
    # not registered, so the duty_leader role holders are mentioned instead
    assert [u.telegram_id for u in leader] == [1004] and [u.telegram_id for u in nobody] == [1004]
    duty = await Reporter(api, 1003).say("/duty")  # tomorrow's shifts are the next ones
    assert "县应急管理局" in duty and "下一班" in duty and "赵带班 13800000004" in duty and "李报送" in duty
    async with harness.repos() as repos:
        first = await repos.session.scalar(select(Shift).order_by(Shift.starts_at, Shift.id))
    before = len(api.in_chat(-100300))
    await harness.app.scheduler.tick(first.starts_at + timedelta(seconds=1))
    notice = [s.text for s in api.in_chat(-100300)[before:] if "交接班" in s.text]
    assert notice and "赵带班" in notice[0] and "李报送" in notice[0]
    await harness.app.scheduler.tick(first.starts_at + timedelta(minutes=5))  # told once
    assert len([s for s in api.in_chat(-100300) if "交接班" in s.text]) == 1


BAD = [
    ("county,2026-06-01 08:00,2026-06-01 20:00,带班领导,赵带班,13800000004,主班", None),
    ("nowhere,2026-06-01 08:00,2026-06-01 20:00,带班领导,某人,,主班", "没有代码为 nowhere 的单位"),
    ("county,6月1日,2026-06-01 20:00,带班领导,某人,,主班", "时间无法识别"),
    ("county,2026-06-01 20:00,2026-06-01 08:00,值班员,某人,,主班", "结束时间须晚于开始时间"),
    ("county,2026-06-01 08:00,2026-06-01 20:00,保安,某人,,主班", "角色须为"),
    ("county,2026-06-01 08:00,2026-06-01 20:00,值班员,,,主班", "姓名为空"),
    ("county,2026-06-01 08:00,2026-06-01 20:00,值班员,某人,电话号码,主班", "电话号码格式不对"),
    ("county,2026-06-01 08:00,2026-06-01 20:00,值班员,某人,,夜班", "班次须为"),
    ("county,2026-06-01 08:00,2026-06-01 20:00,带班领导,赵带班,,主班", "重复"),
    ("county,2026-06-01 12:00,2026-06-01 23:00,值班员,某人,,主班", "重叠"),
    ("county,2026-06-01 08:00,2026-06-04 08:00,值班员,某人,,副班", "48 小时"),
]


async def test_every_bad_row_is_named_with_its_line_and_nothing_is_imported(harness: Harness) -> None:
    await harness.seed()
    rows = [HEADER] + [row for row, _ in BAD]
    answer = await import_file(harness.api, "bad.csv", ("\n".join(rows) + "\n").encode("utf-8"))
    assert f"有 {sum(1 for _, r in BAD if r)} 处问题，未导入任何内容" in answer
    for line, (_row, reason) in enumerate(BAD, start=2):
        if reason:
            assert f"第 {line} 行：" in answer and reason in answer, (line, reason)
    assert "第 2 行：" not in answer  # the good row is not blamed
    async with harness.repos() as repos:
        assert await repos.session.scalar(select(func.count()).select_from(Shift)) == 0
    assert "表头" in await import_file(harness.api, "noheader.csv", b"a,b,c\n1,2,3\n")
    assert "尚未导入值班表" in await Reporter(harness.api, 1002).say("/duty")  # anyone may ask; none yet


@pytest.mark.subprocess
async def test_xlsx_by_file_and_by_the_cli(harness: Harness, db_url: str, tmp_path: object) -> None:
    await harness.seed()
    book = Workbook()
    sheet = book.active
    sheet.append(["unit", "start", "end", "role", "name", "phone", "shift"])
    sheet.append(
        [
            "county",
            datetime(2030, 6, 1, 8, 0),
            datetime(2030, 6, 1, 20, 0),
            "leader",
            "赵带班",
            "13800000004",
            "primary",
        ]
    )
    sheet.append(["county", "2030-06-01 08:00", "2030-06-01 20:00", "officer", "李报送", None, None])
    data = io.BytesIO()
    book.save(data)
    answer = await import_file(harness.api, "roster.xlsx", data.getvalue())
    assert "值班表已导入：1 个班次" in answer
    bad = Workbook()
    bad.active.append(["unit", "start", "end", "role", "name"])
    bad.active.append(["county", "2030-06-02 08:00", "2030-06-02 07:00", "leader", "赵带班"])
    path = f"{tmp_path}/bad.xlsx"
    bad.save(path)
    env = bot_env(harness.api, db_url)
    code, _out, err = await cli(env, "admin", "import-roster", path)
    assert code == 1 and "第 2 行" in err and "结束时间须晚于开始时间" in err
    good = f"{tmp_path}/good.csv"
    write(good, roster_csv(datetime(2031, 1, 1, tzinfo=TZ)))
    code, out, err = await cli(env, "admin", "import-roster", good)
    assert code == 0 and "3 个班次" in out, err


async def test_handover_composed_from_the_data_taken_over_once_and_a_missing_one_flagged(harness: Harness) -> None:
    county = await file_county_report(harness)  # an open incident whose alerts nobody acknowledged
    api = harness.api
    async with harness.repos() as repos:
        await add_user(repos, "test", 1006, "吴接班", "county", ["duty_officer"], "13800000006")
    now = datetime.now(TZ).replace(second=0, microsecond=0)
    fmt = "%Y-%m-%d %H:%M"
    a, b, c = (f"{now + timedelta(hours=h):{fmt}}" for h in (-1, 1, 13))
    rows = [
        HEADER,
        f"county,{a},{b},带班领导,赵带班,13800000004,主班",
        f"county,{b},{c},带班领导,孙夜班,,主班",
        f"county,{b},{c},值班员,吴接班,13800000006,主班",
    ]
    assert "已导入：2 个班次" in await import_file(api, "r.csv", ("\n".join(rows) + "\n").encode())
    before_group = len(api.in_chat(-100300))
    sent = await Reporter(api, 1004).say("/handover 注意G205国道封闭")
    assert "交接内容已发到值班群和接班人员" in sent
    posted = await api.wait_for(lambda: [s for s in api.in_chat(-100300)[before_group:] if "交接班" in s.text])
    text = posted[0].text
    assert "交班人：赵带班" in text and "未结事件 1 起" in text and county.number in text
    assert "无人确认的报警" in text and "注意G205国道封闭" in text and "下一班" in text
    incoming = await api.wait_for(lambda: [s for s in api.in_chat(1006) if "交接班" in s.text and s.buttons()])
    button = posted[0].button("接班确认")["callback_data"]
    assert "不能确认自己" in (await api.answer_to(await api.press(1004, posted[0], button)))["text"]
    assert "只有本单位" in (await api.answer_to(await api.press(1002, posted[0], button)))["text"]
    assert "已接班确认" in (await api.answer_to(await api.press(1006, incoming[0], button)))["text"]
    assert "已有人接班" in (await api.answer_to(await api.press(1003, posted[0], button)))["text"]
    async with harness.repos() as repos:
        handover = await repos.session.scalar(select(Handover))
        accepted = await repos.users.get(handover.accepted_by)
        shifts = list(await repos.session.scalars(select(Shift).order_by(Shift.starts_at)))
    assert accepted.telegram_id == 1006 and handover.shift_id == shifts[0].id
    # the handed-over shift is not flagged; the next one, never handed over, is (to the county's duty leader)
    before = len(api.in_chat(1004))
    await harness.app.scheduler.tick(shifts[0].ends_at + timedelta(minutes=31))
    assert not [s for s in api.in_chat(1004)[before:] if "未办理交接班" in s.text]
    await harness.app.scheduler.tick(shifts[1].ends_at + timedelta(minutes=31))
    flagged = [s.text for s in api.in_chat(1004)[before:] if "未办理交接班" in s.text]
    assert len(flagged) == 1 and "县应急管理局" in flagged[0]
