"""Benchmark: the deadline scheduler with 100,000 pending deadlines, 1,000 of them coming due within the
next minute, on SQLite and PostgreSQL, against a baseline that polls every second.

For each fired reminder it measures the lateness: from the moment it was due until the fake Bot API
(real HTTP on 127.0.0.1) received it. Then, with nothing due for hours, the process's CPU over an idle
stretch: our loop sleeps until the next row (goal: not measurable); the baseline polls. The send limits
are opened wide (the figures are the loop's, not Telegram's pacing). Figures are printed, never asserted.

    python -m benchmarks.bench_scheduler                        # 100,000 pending, 1,000 due in 60 s
    python -m benchmarks.bench_scheduler --pending 5000 --due 100 --window 10 --idle 3 --backends sqlite
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIRST_USER = 700_000
REPORTERS = 1000
GROUP = -100950


async def seed(db: str, pending: int, due: int, window: float) -> dict[str, float]:
    """Units, reporters and `pending` open deadlines; `due` of them have their first reminder within the
    next `window` seconds, the rest days away. Returns number -> due time (epoch seconds) of the near ones."""
    from sqlalchemy import insert

    from bot.domain.clock import utcnow
    from bot.usecases.onboarding import add_unit, bind_group
    from storage.db import create_engine, create_sessionmaker, migrate
    from storage.models import Deadline, Incident, Report, User
    from storage.uow import transaction, unit_of_work

    engine = create_engine(db)
    await migrate(engine)
    sessions = create_sessionmaker(engine)
    async with unit_of_work(sessions) as repos:
        unit = await add_unit(repos, "bench", "bench", "基准测试单位", None)
        await bind_group(repos, "bench", GROUP, unit, "值班群", None)
        unit_id = unit.id
    now = utcnow() + timedelta(seconds=3)  # the near ones start once the loop is running
    async with transaction(sessions) as s:
        await s.execute(
            insert(User),
            [
                {
                    "telegram_id": FIRST_USER + i,
                    "name": f"报送员{i}",
                    "unit_id": unit_id,
                    "active": True,
                    "created_at": now,
                }
                for i in range(REPORTERS)
            ],
        )
    near: dict[str, float] = {}
    chunk = 5000
    far = [range(start, min(start + chunk, pending)) for start in range(due, pending, chunk)]
    for rows in [*far, range(0, due)]:  # the near ones last, timed from when they are written
        if rows.start == 0:
            now = utcnow() + timedelta(seconds=3)
        async with transaction(sessions) as s:
            incidents = []
            for n in rows:
                at = (
                    now + timedelta(seconds=window * (n / max(due, 1)))
                    if n < due
                    else now + timedelta(days=1 + n % 29, minutes=n % 1440)
                )
                number = f"KB-B-{n:06d}"
                if n < due:
                    near[number] = at.timestamp()
                incidents.append(
                    {
                        "number": number,
                        "unit_id": unit_id,
                        "reporter_id": 1 + n % REPORTERS,
                        "category": "accident",
                        "subtype": "traffic",
                        "suggested_grade": "IV",
                        "grade": "IV",
                        "occurred_at": at - timedelta(hours=36),
                        "status": "open",
                        "initial_due_at": at - timedelta(hours=34),
                        "created_at": now,
                        "_at": at,
                    }
                )
            ats = [i.pop("_at") for i in incidents]
            ids = (
                (await s.execute(insert(Incident).returning(Incident.id, sort_by_parameter_order=True), incidents))
                .scalars()
                .all()
            )
            await s.execute(
                insert(Report),
                [
                    {
                        "incident_id": i,
                        "kind": "initial",
                        "seq": 0,
                        "draft_token": f"b{i}",
                        "reporter_id": inc["reporter_id"],
                        "fields": {"description": "基准"},
                        "started_at": now,
                        "submitted_at": now,
                        "received_at": now,
                        "late": False,
                        "incomplete": False,
                    }
                    for i, inc in zip(ids, incidents, strict=True)
                ],
            )
            # the first follow-up: its first reminder (half the 72 h window) is `at`
            half = timedelta(hours=36)
            await s.execute(
                insert(Deadline),
                [
                    {
                        "incident_id": i,
                        "unit_id": unit_id,
                        "reporter_id": inc["reporter_id"],
                        "rule": "first_followup",
                        "due": "followup",
                        "seq": 1,
                        "start_at": at - half,
                        "due_at": at + half,
                        "state": "open",
                        "late": False,
                        "next_at": at,
                        "created_at": now,
                    }
                    for i, inc, at in zip(ids, incidents, ats, strict=True)
                ],
            )
    await engine.dispose()
    return near


def cpu() -> float:
    t = os.times()
    return t.user + t.system


async def measure(backend: str, kind: str, pending: int, due: int, window: float, idle: float) -> dict[str, Any]:
    from bot.app.runtime import make_notifier
    from bot.app.sandbox.botapi import TOKEN, FakeBotAPI
    from bot.app.settings import load_settings
    from bot.telegram.i18n import Catalogs
    from bot.telegram.scheduler import Scheduler
    from bot.usecases.common import Config
    from storage.db import create_engine, create_sessionmaker
    from storage.outbox import OutboxStore
    from tests.conftest import create_pg_database, drop_pg_database

    db = f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='kb-sched-')}/bench.db"
    if backend == "postgresql":
        db = await create_pg_database()
    api = FakeBotAPI()
    await api.start()
    try:
        t0 = time.perf_counter()
        near = await seed(db, pending, due, window)
        seeded = time.perf_counter() - t0
        settings = load_settings(
            {
                "bot_token": TOKEN,
                "bot_api_base": api.base_url,
                "database_url": db,
                "send_overall_per_second": 1000,
                "send_chat_per_second": 100,
                "send_chat_burst": 100,
            },
            environ={},
            env_file=None,
        )
        from bot.app.runtime import build_bot

        engine = create_engine(db)
        sessions = create_sessionmaker(engine)
        bot = build_bot(settings)
        config = Config(tz=settings.tz, default_locale=settings.default_locale, policy=settings.policy())
        scheduler = Scheduler(
            sessions,
            Catalogs(settings.locales_dir, settings.default_locale),
            make_notifier(bot, sessions, settings),
            OutboxStore(sessions),
            config,
        )

        async def baseline() -> None:  # what a naive job would do: look every second
            while True:
                await scheduler.tick()
                await asyncio.sleep(1.0)

        task = asyncio.create_task(scheduler.run() if kind == "ours" else baseline())
        try:

            def fired() -> dict[str, float]:
                got = {}
                for uid in range(FIRST_USER, FIRST_USER + REPORTERS):
                    for s in api.in_chat(uid):
                        for line in s.text.splitlines():
                            if "KB-B-" in line:
                                got[line.split()[1]] = s.at
                return got

            await api.wait_for(lambda: len(fired()) >= due, timeout=window + 120)
            got = fired()
            late = sorted(max(0.0, got[n] - at) for n, at in near.items() if n in got)
            await asyncio.sleep(1.0)
            start_cpu, start = cpu(), time.perf_counter()
            await asyncio.sleep(idle)  # nothing is due for a day: the loop should sleep
            idle_cpu = cpu() - start_cpu
            idle_s = time.perf_counter() - start
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await bot.session.close()
            await engine.dispose()
        return {
            "backend": backend,
            "kind": kind,
            "seeded": seeded,
            "fired": len(late),
            "late": late,
            "idle_cpu_ms_per_s": idle_cpu * 1000 / idle_s,
        }
    finally:
        await api.stop()
        if backend == "postgresql":
            await drop_pg_database(db)


def pct(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def main_run(args: argparse.Namespace) -> None:
    results = []
    for backend in args.backends.split(","):
        for kind in ("baseline", "ours"):
            print(
                f"running {kind} on {backend}: {args.pending} pending, {args.due} due within {args.window:.0f} s …",
                flush=True,
            )
            results.append(await measure(backend, kind, args.pending, args.due, args.window, args.idle))
    print(
        f"\n{'run':<22}{'seeded s':>10}{'fired':>8}{'late p50 ms':>13}{'late p99 ms':>13}{'max ms':>9}"
        f"{'idle CPU ms/s':>15}"
    )
    for r in results:
        late = r["late"]
        print(
            f"{r['kind'] + '/' + r['backend']:<22}{r['seeded']:>10.1f}{r['fired']:>8}{pct(late, 50) * 1000:>13.0f}"
            f"{pct(late, 99) * 1000:>13.0f}{(late[-1] if late else 0) * 1000:>9.0f}"
            f"{r['idle_cpu_ms_per_s']:>15.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pending", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=1000)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--idle", type=float, default=10.0)
    parser.add_argument("--backends", default="sqlite,postgresql")
    asyncio.run(main_run(parser.parse_args()))


if __name__ == "__main__":
    main()
