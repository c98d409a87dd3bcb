"""/stats and /export over real HTTP, on seeded data whose figures were computed by hand: counts by category and
grade, the toll, timeliness per unit (on time, 迟报, 漏报, incomplete), the unit tree's scope, the chart, and the
export opened back and checked cell by cell (XLSX and CSV with BOM). The CLI export runs as a child process."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import openpyxl
from sqlalchemy import select

from bot.app.sandbox.botapi import FakeBotAPI
from storage.models import AuditEntry, Deadline, Incident, Report, Unit, User
from tests.conftest import Harness
from tests.reporting import Reporter
from tests.subproc import bot_env, cli

JAN = "2026-01-01..2026-01-31"


def at(day: int, hour: int = 2) -> datetime:
    """A moment in January 2026 (UTC; 10:00 Beijing time at the default hour)."""
    return datetime(2026, 1, day, hour, 0, tzinfo=UTC)


async def seed_january(harness: Harness) -> dict[str, int]:
    """County (under the city): 3 incidents, 5 deadlines due (2 on time, 1 filed late, 1 missed, 1 still open),
    1 cancelled, 3 reports (1 incomplete). City: 1 incident. The neighbouring county (a sibling): 1 grave incident
    that the city must never count. One county incident of December 2025: outside the period."""
    await harness.seed()
    async with harness.repos() as r:
        units = {u.code: u.id for u in (await r.session.scalars(select(Unit))).all()}
        people = {int(t): int(i) for t, i in (await r.session.execute(select(User.telegram_id, User.id))).all()}
        county, city, other, reporter = units["county"], units["city"], units["other"], people[1002]

        def incident(n: int, unit: int, category: str, subtype: str, grade: str, when: datetime, **toll: int | None):
            i = Incident(
                number=f"KB-202601{n:02d}-0001",
                unit_id=unit,
                reporter_id=reporter,
                category=category,
                subtype=subtype,
                suggested_grade=grade,
                grade=grade,
                occurred_at=when,
                status="open",
                place_text=f"地点{n}<b>",
                initial_due_at=when + timedelta(hours=2),
                **toll,
            )
            r.session.add(i)
            return i

        flood = incident(
            1,
            county,
            "natural",
            "flood_drought",
            "IV",
            at(3),
            deaths=1,
            serious_injuries=1,
            injuries=2,
            loss_cny=100_000,
        )
        crash = incident(2, county, "accident", "traffic", "III", at(10), deaths=3, missing=1)
        fire = incident(3, county, "accident", "fire", "IV", at(20), deaths=None, loss_cny=None)
        incident(4, city, "natural", "geological", "IV", at(25), deaths=0, injuries=1)
        incident(5, other, "accident", "industrial", "II", at(12), deaths=10)
        incident(6, county, "natural", "flood_drought", "IV", datetime(2025, 12, 31, 15, tzinfo=UTC), deaths=5)
        await r.session.flush()

        def deadline(i: Incident, due: datetime, state: str, late: bool, met: datetime | None = None) -> None:
            r.session.add(
                Deadline(
                    incident_id=i.id,
                    unit_id=i.unit_id,
                    reporter_id=reporter,
                    rule="test",
                    due="followup",
                    seq=1,
                    start_at=due - timedelta(hours=2),
                    due_at=due,
                    state=state,
                    late=late,
                    met_at=met,
                )
            )

        deadline(flood, at(3, 4), "met", False, at(3, 3))
        deadline(crash, at(10, 4), "met", False, at(10, 3))
        deadline(crash, at(11, 4), "met", True, at(11, 6))  # filed late: 迟报
        deadline(fire, at(20, 4), "missed", True)  # 漏报
        deadline(fire, at(21, 4), "open", True)  # still not filed: 迟报
        deadline(fire, at(22, 4), "cancelled", False)  # the incident was regraded: not counted

        def report(i: Incident, n: int, when: datetime, incomplete: bool, fields: dict[str, object]) -> None:
            kind = "initial" if n == 0 else "followup"
            r.session.add(
                Report(
                    incident_id=i.id,
                    kind=kind,
                    seq=n,
                    draft_token=f"t{i.id}{n}",
                    reporter_id=reporter,
                    fields=fields,
                    started_at=when - timedelta(minutes=9),
                    submitted_at=when,
                    received_at=when,
                    late=False,
                    due_at=when + timedelta(hours=1),
                    incomplete=incomplete,
                    unknown=["casualties"] if incomplete else None,
                )
            )

        report(
            flood,
            0,
            at(3, 3),
            False,
            {
                "category": "natural",
                "subtype": "flood_drought",
                "description": "=1+1 河堤",
                "casualties": {"deaths": 1, "serious": 1, "injured": 2},
                "_grade": {"grade": "IV"},
            },
        )
        report(crash, 0, at(10, 3), True, {"category": "accident", "subtype": "traffic", "description": "两车相撞"})
        report(crash, 1, at(11, 6), False, {"description": "续报内容"})
    return units


async def test_stats_figures_by_hand_and_the_scope(harness: Harness) -> None:
    await seed_january(harness)
    api = harness.api
    city = await Reporter(api, 1003).say(f"/stats {JAN}")  # the city officer: city + county, never the sibling
    assert "2026-01-01 至 2026-01-31" in city and "市应急管理局及下级单位" in city
    assert "事件 4 起" in city
    assert "• 自然灾害 2 起（一般（Ⅳ级） 2）" in city
    assert "• 事故灾难 2 起（较大（Ⅲ级） 1、一般（Ⅳ级） 1）" in city
    assert "死亡 4 人，失踪 1 人，受伤 4 人（其中重伤 1 人），直接经济损失 10万元" in city
    # county: 5 due, 2 on time, 2 late (one filed late, one still open), 1 missed → 40.0 %; 3 reports, 1 incomplete
    assert "按时率 40.0%（应报 5，按时 2，迟报 2，漏报 1）" in city
    assert "收到报告 3 份，要素不全 1 份" in city
    assert "• 县应急管理局：40.0%（应报 5，迟报 2，漏报 1，要素不全 1）" in city
    assert "邻县" not in city and "重大（Ⅱ级）" not in city
    chart = await api.wait_for(lambda: [u for u in api.uploads if u[1] == "stats.png"])
    assert chart[0][2].startswith(b"\x89PNG")

    county = await Reporter(api, 1004).say(f"/stats {JAN}")  # the county leader: the county only
    assert "事件 3 起" in county and "死亡 4 人" in county
    neighbour = await Reporter(api, 1005).say(f"/stats {JAN}")  # a reporter may not ask
    assert "不能使用 /stats" in neighbour and "事件" not in neighbour


async def test_stats_answers_bad_periods_and_an_empty_month(harness: Harness) -> None:
    await harness.seed()
    r = Reporter(harness.api, 1003)
    assert "用法" in await r.say("/stats yesterday")
    assert "起始日期晚于结束日期" in await r.say("/stats 2026-06-30..2026-01-01")
    assert "最多统计 3 年" in await r.say("/stats 2020-01-01..2026-01-01")
    empty = await r.say("/stats")
    assert "本月" in empty and "本期没有事件" in empty and "没有到期的报送" in empty
    assert not harness.api.uploads  # no chart for nothing


async def test_export_xlsx_in_chat_cell_by_cell(harness: Harness) -> None:
    await seed_january(harness)
    api = harness.api
    assert "不能使用 /export" in await Reporter(api, 1003).say(f"/export {JAN}")  # officers may not export
    said = await Reporter(api, 1004).say(f"/export {JAN}")  # the county's duty leader
    assert "正在生成" in said
    name = "kuaibao-20260101-20260131.xlsx"
    upload = (await api.wait_for(lambda: [u for u in api.uploads if u[1] == name]))[0]
    book = openpyxl.load_workbook(io.BytesIO(upload[2]), read_only=True)
    assert book.sheetnames == ["事件", "报告", "及时性", "值班台账", "分类统计表", "联动考核"]
    incidents = list(book["事件"].iter_rows(values_only=True))
    assert incidents[0][:4] == ("事件编号", "单位", "类别", "类型")
    assert [row[0] for row in incidents[1:]] == ["KB-20260101-0001", "KB-20260102-0001", "KB-20260103-0001"]
    first = incidents[1]
    assert first[1:6] == ("县应急管理局", "自然灾害", "水旱灾害", "一般（Ⅳ级）", "一般（Ⅳ级）")
    assert first[6] == datetime(2026, 1, 3, 10, 0)  # local time, a real date cell
    assert first[7] == "地点1<b>"  # user text as typed
    assert first[8:14] == (1, None, 1, 2, None, 100000)
    reports = list(book["报告"].iter_rows(values_only=True))
    header = reports[0]
    assert header[:3] == ("事件编号", "报告类型", "次序")
    row = dict(zip(header, reports[1], strict=True))
    assert row["报告类型"] == "初报" and row["等级"] == "一般（Ⅳ级）"
    assert row["事件性质及简要经过"] == "=1+1 河堤"  # never a formula
    assert (row["事件类别"], row["事件类型"]) == ("自然灾害", "水旱灾害")  # labels, not codes
    assert row["人员伤亡"] == "死亡 1 · 失踪 不详 · 重伤 1 · 受伤 2 · 被困 不详"
    assert row["提交时间"] == datetime(2026, 1, 3, 11, 0) and row["迟报"] is None and row["其他内容"] is None
    assert dict(zip(header, reports[2], strict=True))["要素不全"] == "是"
    assert len(reports) == 4
    timeliness = list(book["及时性"].iter_rows(values_only=True))
    assert [r[5] for r in timeliness[1:]] == ["已报", "已报", "已报", "漏报", "未报", "取消"]
    assert [r[7] for r in timeliness[1:]] == [None, None, "是", "是", "是", None]
    ledger = list(book["值班台账"].iter_rows(values_only=True))
    assert len(ledger) == 4 and ledger[1][1] == "KB-20260101-0001" and ledger[1][6] == "李报送"
    table = list(book["分类统计表"].iter_rows(values_only=True))
    assert table[0][:7] == ("类别", "类型", "事件数", "特别重大（Ⅰ级）", "重大（Ⅱ级）", "较大（Ⅲ级）", "一般（Ⅳ级）")
    assert ("自然灾害", "水旱灾害", 1, 0, 0, 0, 1, 1, 0, 1, 2, 100000) in table
    assert table[2:4] == [
        ("事故灾难", "火灾", 1, 0, 0, 0, 1, 0, 0, 0, 0, 0),
        ("事故灾难", "交通运输事故", 1, 0, 0, 1, 0, 3, 1, 0, 0, 0),
    ]
    assert table[-1] == ("合计", None, 3, 0, 0, 1, 2, 4, 1, 1, 2, 100000)
    async with harness.repos() as repos:
        audit = (await repos.session.scalars(select(AuditEntry).where(AuditEntry.action == "export.create"))).all()
    assert [(a.actor, a.after) for a in audit] == [
        ("tg:1004", {"from": "2026-01-01", "to": "2026-01-31", "format": "xlsx", "via": "chat"})
    ]


async def test_export_csv_has_a_bom_and_busy_is_told(harness: Harness) -> None:
    await seed_january(harness)
    api = harness.api
    assert "正在生成" in await Reporter(api, 1001).say(f"/export {JAN} csv")  # the city's administrator
    name = "kuaibao-20260101-20260131.zip"
    upload = (await api.wait_for(lambda: [u for u in api.uploads if u[1] == name]))[0]
    archive = zipfile.ZipFile(io.BytesIO(upload[2]))
    assert sorted(archive.namelist()) == sorted(
        f"{s}.csv" for s in ("incidents", "reports", "timeliness", "ledger", "table", "dispatch")
    )
    raw = archive.read("incidents.csv")
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel opens the Chinese correctly
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][0] == "事件编号" and len(rows) == 5  # the city sees its 1 and the county's 3
    assert rows[1][6] == "2026-01-03 10:00"
    reports = list(csv.reader(io.StringIO(archive.read("reports.csv").decode("utf-8-sig"))))
    description = reports[0].index("事件性质及简要经过")
    assert reports[1][description] == "'=1+1 河堤"  # text Excel would run as a formula stays text
    assert "用法" in await Reporter(api, 1001).say("/export last-year pdf")


async def test_cli_export_streams_a_file(fake_api: FakeBotAPI, db_url: str, tmp_path: Path, harness: Harness) -> None:
    await seed_january(harness)
    out = tmp_path / "jan.xlsx"
    env = bot_env(fake_api, db_url)
    code, stdout, stderr = await cli(
        env, "export", "--from", "2026-01-01", "--to", "2026-01-31", "--unit", "county", "--out", str(out)
    )
    assert code == 0, stderr
    assert "incidents 3" in stdout and "reports 3" in stdout
    book = openpyxl.load_workbook(out, read_only=True)
    assert [r[0] for r in book["事件"].iter_rows(min_row=2, values_only=True)] == [
        "KB-20260101-0001",
        "KB-20260102-0001",
        "KB-20260103-0001",
    ]
    code, _out, stderr = await cli(env, "export", "--from", "2026-02-01", "--to", "2026-01-01")
    assert code == 1 and "order" in stderr
    code, _out, stderr = await cli(
        env,
        "export",
        "--from",
        "2026-01-01",
        "--to",
        "2026-01-31",
        "--unit",
        "nowhere",
        "--out",
        str(tmp_path / "x.xlsx"),
    )
    assert code == 1 and "nowhere" in stderr
