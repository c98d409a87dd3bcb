"""The duty desk at a province's scale: 100,000 incidents with 400,000 reports over 200 units, on SQLite and on
PostgreSQL. Prints p50/p99 of /status, /incident, /stats month (the use case and the message text, as a chat
answer is built; the chart's drawing apart), the one-year export's time and peak memory (the CLI as its own
process, beside the same CLI exporting one day), and the query plans the figures rely on.

    python -m benchmarks.bench_desk [--incidents 100000] [--backends sqlite,postgresql] [--runs 60]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app.settings import load_settings
from bot.domain.stats import period_of
from bot.telegram.charts import render_chart
from bot.telegram.desk import page_text, timeline_text
from bot.telegram.i18n import Catalogs
from bot.telegram.stats import chart_data, stats_text
from bot.usecases import desk
from bot.usecases.stats import stats
from storage.db import create_engine, create_sessionmaker, migrate
from storage.models import Acknowledgement, Alert, AuditEntry, Deadline, Incident, Report, Unit, User, UserRole
from storage.uow import unit_of_work

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = os.environ.get("KUAIBAO_TEST_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
NOW = datetime.now(UTC).replace(microsecond=0)
CATEGORIES = [
    ("natural", "flood_drought"),
    ("natural", "geological"),
    ("accident", "traffic"),
    ("accident", "fire"),
    ("accident", "industrial"),
    ("health", "food"),
    ("social", "mass_incident"),
]
GRADES = ["IV"] * 80 + ["III"] * 15 + ["II"] * 4 + ["I"]


async def seed(engine: AsyncEngine, incidents: int, units: int = 200, chunk: int = 5000) -> dict[str, Any]:
    """A province (1), cities (19), counties (the rest); two people per unit; a year of incidents, 4 reports
    each, 2 deadlines each (2% of incidents still open, some overdue), an alert per incident, half acknowledged."""
    rnd = random.Random(7)
    maker = create_sessionmaker(engine)
    async with unit_of_work(maker) as r:
        s = r.session
        await s.execute(
            insert(Unit), [{"id": 1, "code": "p", "name": "省应急管理厅", "parent_id": None, "created_at": NOW}]
        )
        cities = list(range(2, 21))
        await s.execute(
            insert(Unit),
            [
                {"id": c, "code": f"c{c}", "name": f"第{c}市应急管理局", "parent_id": 1, "created_at": NOW}
                for c in cities
            ],
        )
        await s.execute(
            insert(Unit),
            [
                {
                    "id": u,
                    "code": f"x{u}",
                    "name": f"第{u}县应急管理局",
                    "parent_id": cities[u % len(cities)],
                    "created_at": NOW,
                }
                for u in range(21, units + 1)
            ],
        )
        people = [
            {
                "id": u * 2 - 1 + k,
                "telegram_id": 10_000 + u * 2 + k,
                "name": f"值班员{u}-{k}",
                "unit_id": u,
                "created_at": NOW,
                "active": True,
            }
            for u in range(1, units + 1)
            for k in (0, 1)
        ]
        await s.execute(insert(User), people)
        await s.execute(
            insert(UserRole),
            [{"user_id": p["id"], "role": "duty_officer" if p["id"] % 2 else "reporter"} for p in people],
        )
    rows: dict[str, list[dict[str, Any]]] = {"i": [], "r": [], "d": [], "a": [], "k": [], "u": []}
    tables = {"i": Incident, "r": Report, "d": Deadline, "a": Alert, "k": Acknowledgement, "u": AuditEntry}
    order = ("i", "r", "d", "a", "k", "u")

    async def flush() -> None:
        async with unit_of_work(maker) as r:
            for key in order:
                if rows[key]:
                    await r.session.execute(insert(tables[key]), rows[key])
                    rows[key] = []

    report_id = deadline_id = 0
    for n in range(1, incidents + 1):
        unit = rnd.randint(1, units)
        reporter = unit * 2
        occurred = NOW - timedelta(seconds=rnd.randint(0, 365 * 86400))
        category, subtype = rnd.choice(CATEGORIES)
        is_open = rnd.random() < 0.02
        rows["i"].append(
            {
                "id": n,
                "number": f"KB-{occurred:%Y%m%d}-{n:06d}",
                "unit_id": unit,
                "reporter_id": reporter,
                "category": category,
                "subtype": subtype,
                "suggested_grade": "IV",
                "grade": rnd.choice(GRADES),
                "occurred_at": occurred,
                "place_text": f"某镇某村{n % 97}组",
                "deaths": rnd.choice([0, 0, 0, 1, 3]),
                "missing": 0,
                "serious_injuries": rnd.choice([0, 0, 1, 2]),
                "injuries": rnd.randint(0, 6),
                "trapped": 0,
                "loss_cny": rnd.randint(0, 5_000_000),
                "status": "open" if is_open else "closed",
                "initial_due_at": occurred + timedelta(hours=2),
                "created_at": occurred + timedelta(minutes=20),
                "closed_at": None if is_open else occurred + timedelta(days=2),
            }
        )
        for seq, kind in enumerate(("initial", "followup", "followup", "final")):
            report_id += 1
            at = occurred + timedelta(hours=1 + 12 * seq)
            rows["r"].append(
                {
                    "id": report_id,
                    "incident_id": n,
                    "kind": kind,
                    "seq": seq if kind == "followup" else 0,
                    "draft_token": uuid.uuid4().hex,
                    "reporter_id": reporter,
                    "started_at": at,
                    "submitted_at": at,
                    "received_at": at,
                    "late": rnd.random() < 0.05,
                    "incomplete": rnd.random() < 0.03,
                    "fields": {
                        "category": category,
                        "subtype": subtype,
                        "description": "河水上涨，冲毁道路" * 4,
                        "casualties": {"deaths": 0, "serious": 1, "injured": 2},
                        "measures": "已组织转移群众，现场处置中",
                        "loss": 120000,
                    },
                }
            )
        for seq in (0, 1):
            deadline_id += 1
            due = occurred + timedelta(hours=2 + 70 * seq)
            state = "open" if is_open and seq == 1 else rnd.choices(["met", "missed"], [97, 3])[0]
            rows["d"].append(
                {
                    "id": deadline_id,
                    "incident_id": n,
                    "unit_id": unit,
                    "reporter_id": reporter,
                    "rule": "bench",
                    "due": "initial" if seq == 0 else "followup",
                    "seq": seq,
                    "start_at": occurred,
                    "due_at": due if not (is_open and seq) else NOW + timedelta(hours=rnd.randint(-30, 30)),
                    "state": state,
                    "late": rnd.random() < 0.06,
                    "met_at": due if state == "met" else None,
                    "created_at": occurred,
                }
            )
        alert_id = n  # one alert per incident
        rows["a"].append(
            {
                "id": alert_id,
                "incident_id": n,
                "report_id": report_id - 3,
                "unit_id": unit,
                "chat_id": -unit,
                "level": "unit",
                "message_id": n,
                "sent_at": occurred + timedelta(hours=1),
                "created_at": occurred,
            }
        )
        if n % 2:
            rows["k"].append({"alert_id": alert_id, "user_id": unit * 2 - 1, "at": occurred + timedelta(hours=1.2)})
        rows["u"].append(
            {
                "at": occurred + timedelta(hours=3),
                "actor": "system",
                "action": "deadline.remind",
                "entity": "deadline",
                "entity_id": str(deadline_id),
                "before": None,
                "after": {"step": 0},
            }
        )
        if n % chunk == 0:
            await flush()
    await flush()
    async with engine.begin() as conn:
        await conn.execute(text("ANALYZE"))  # fresh statistics for the planners, as after a day of use
    return {"province_user": 2, "city_user": 5, "county_user": 2 * 150 - 1}


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


async def measure(engine: AsyncEngine, runs: int, catalogs: Catalogs) -> dict[str, list[float]]:
    maker = create_sessionmaker(engine)
    tz = load_settings({}, environ={}, env_file=None).tz
    _ = catalogs.translator("zh_Hans")
    timings: dict[str, list[float]] = {"/status": [], "/incident": [], "/stats month": [], "/overdue": []}
    async with unit_of_work(maker) as r:
        users = {k: await r.users.get(v) for k, v in (("province", 1), ("city", 5), ("county", 299))}
        numbers = [n for (n,) in (await r.session.execute(text("SELECT number FROM incidents WHERE id % 97 = 1")))]
    rnd = random.Random(3)
    for i in range(runs):
        who = users[("province", "city", "county")[i % 3]]
        assert who is not None
        t = time.perf_counter()
        async with unit_of_work(maker) as r:
            page = await desk.status(r, who, NOW, rnd.randint(0, 3))
        page_text(page, NOW, _, tz)
        timings["/status"].append(time.perf_counter() - t)
        t = time.perf_counter()
        async with unit_of_work(maker) as r:
            page = await desk.overdue(r, who, NOW, 0)
        page_text(page, NOW, _, tz)
        timings["/overdue"].append(time.perf_counter() - t)
        t = time.perf_counter()
        async with unit_of_work(maker) as r:
            found = await desk.timeline(r, users["province"], rnd.choice(numbers))  # type: ignore[arg-type]
        assert not isinstance(found, str)
        timeline_text(found, NOW, _, tz)
        timings["/incident"].append(time.perf_counter() - t)
        t = time.perf_counter()
        async with unit_of_work(maker) as r:
            result = await stats(r, who, period_of("month", NOW, tz), NOW)
        stats_text(result, _)
        timings["/stats month"].append(time.perf_counter() - t)
        if i == 0:
            t = time.perf_counter()
            render_chart(chart_data(result, _))
            timings["chart (drawn apart)"] = [time.perf_counter() - t]
    return timings


def export_run(url: str, first: str, last: str, out: Path) -> tuple[float, float, str]:
    """The CLI export as its own process: (seconds, peak RSS in MB, its output line)."""
    env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"}
    t = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", EXPORT_CHILD, first, last, str(out)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    took = time.perf_counter() - t
    if proc.returncode:
        raise SystemExit(proc.stderr[-3000:])
    out_line, peak = proc.stdout.strip().rsplit("\n", 1)
    return took, float(peak) / 1024, out_line


# The child's own peak (VmHWM, kB): getrusage's ru_maxrss survives execve, so it would report the parent's peak.
EXPORT_CHILD = """
import sys
from bot.app.cli import main
try:
    main(["export", "--from", sys.argv[1], "--to", sys.argv[2], "--out", sys.argv[3]], standalone_mode=False)
finally:
    print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")))
"""

PLANS = {
    "/status (open incidents, next deadline)": """
        SELECT incidents.id FROM incidents LEFT OUTER JOIN (SELECT incident_id, min(due_at) AS next_due
        FROM deadlines WHERE state = 'open' GROUP BY incident_id) nd ON nd.incident_id = incidents.id
        WHERE incidents.status != 'closed' AND incidents.unit_id IN (21, 40, 59)""",
    "/overdue": "SELECT id FROM deadlines WHERE state = 'open' AND due_at < :now ORDER BY due_at",
    "/incident (audit trail)": "SELECT id FROM audit_log WHERE entity = 'deadline' AND entity_id IN ('5', '6')",
    "/stats month (counts)": """SELECT category, grade, count(*) FROM incidents WHERE occurred_at >= :start
        AND occurred_at < :now GROUP BY category, grade""",
    "/stats month (timeliness)": """SELECT unit_id, count(*) FROM deadlines WHERE due_at >= :start AND due_at < :now
        AND state != 'cancelled' GROUP BY unit_id""",
    "export (reports by day received)": "SELECT id FROM reports WHERE received_at >= :start AND received_at < :now",
}


async def plans(engine: AsyncEngine) -> list[str]:
    out = []
    explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    async with engine.connect() as conn:
        for name, sql in PLANS.items():
            rows = (await conn.execute(text(explain + sql), {"now": NOW, "start": NOW - timedelta(days=30)})).all()
            lines = [str(r[-1]) for r in rows]
            out.append(f"  {name}:\n" + "\n".join(f"      {line}" for line in lines))
    return out


async def backend(name: str, incidents: int, runs: int, catalogs: Catalogs, folder: Path) -> None:
    if name == "sqlite":
        url = f"sqlite+aiosqlite:///{folder / 'desk.db'}"
        admin = None
    else:
        import asyncpg

        db = f"kb_bench_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(PG_ADMIN.replace("postgresql+asyncpg://", "postgresql://"))
        await admin.execute(f'CREATE DATABASE "{db}"')
        url = PG_ADMIN.rsplit("/", 1)[0] + f"/{db}"
    engine = create_engine(url)
    try:
        await migrate(engine)
        t = time.perf_counter()
        await seed(engine, incidents)
        print(f"\n== {name}: seeded {incidents} incidents, {4 * incidents} reports in {time.perf_counter() - t:.0f} s")
        timings = await measure(engine, runs, catalogs)
        print(f"{'query':<24}{'p50 ms':>10}{'p99 ms':>10}{'runs':>7}")
        for query, values in timings.items():
            ms = [v * 1000 for v in values]
            print(f"{query:<24}{statistics.median(ms):>10.1f}{pct(ms, 0.99):>10.1f}{len(ms):>7}")
        print("query plans:")
        print("\n".join(await plans(engine)))
    finally:
        await engine.dispose()
    year_first = (NOW - timedelta(days=364)).date().isoformat()
    today = NOW.date().isoformat()
    took_day, peak_day, _line = export_run(url, today, today, folder / f"{name}-day.xlsx")
    took, peak, line = export_run(url, year_first, today, folder / f"{name}-year.xlsx")
    size = (folder / f"{name}-year.xlsx").stat().st_size / 1e6
    print(f"export one year : {took:.1f} s, peak RSS {peak:.0f} MB, file {size:.1f} MB ({line.split(': ', 1)[-1]})")
    print(f"export one day  : {took_day:.1f} s, peak RSS {peak_day:.0f} MB (the same process, nearly no rows)")
    if admin is not None:
        await admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
        await admin.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    settings = load_settings({}, environ={}, env_file=None)
    catalogs = Catalogs(settings.locales_dir, settings.default_locale)
    print(
        f"duty desk benchmark: {args.incidents} incidents, {4 * args.incidents} reports, 200 units; "
        f"{args.runs} runs per query; python {sys.version.split()[0]}"
    )
    with tempfile.TemporaryDirectory(prefix="kb-bench-desk-") as folder:
        for name in args.backends.split(","):
            await backend(name.strip(), args.incidents, args.runs, catalogs, Path(folder))
    print(f"\nbenchmark process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    asyncio.run(main())
