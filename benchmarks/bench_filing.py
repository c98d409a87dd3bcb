"""Benchmark: filing alone (the use case that stores an initial report and plans its alerts), per backend.

The hot path's slowest step is the submit: this times `submit_initial_report` in a transaction of its own (as an
update's would be: BEGIN, the filing, COMMIT), with no Telegram around it, so a change to filing can be measured in
seconds. Figures are printed, never asserted.

    python -m benchmarks.bench_filing                       # 600 filings on SQLite and PostgreSQL
    python -m benchmarks.bench_filing --filings 2000 --backends sqlite
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo


def draft(minutes_ago: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The benchmark form's answers (bench_report's script), as the form engine hands them to filing."""
    from bot.domain.clock import utcnow

    now = utcnow()
    answers = {
        "occurred_at": (now - timedelta(minutes=minutes_ago)).isoformat(),
        "place": {"text": "XX镇XX村河堤", "lat": 31.2, "lon": 121.4},
        "source": ["现场人员"],
        "category": "accident",
        "subtype": "traffic",
        "description": "一辆货车与大巴相撞，多人受伤，道路中断",
        "casualties": {"deaths": 1, "injured": 5},
        "loss": 3500000,
        "measures": "已封闭道路，救护车到场",
        "contact": "13800000000",
    }
    token = uuid.uuid4().hex[:16]
    return (
        {"token": token, "answers": answers, "started_at": now.isoformat()},
        {"grade": {"suggested": "IV", "grade": "IV"}},
    )


async def run(backend: str, filings: int) -> tuple[list[float], float]:
    from benchmarks.bench_report import FIRST_USER, seed
    from bot.usecases.common import Config
    from bot.usecases.reports import submit_initial_report
    from storage.db import create_engine, create_sessionmaker
    from storage.uow import unit_of_work
    from tests.conftest import create_pg_database, drop_pg_database

    db = await create_pg_database() if backend == "postgresql" else f"sqlite:///{tempfile.mkdtemp()}/f.db"
    await seed(db, 1)  # bench_report's unit, its bound duty group and one reporter
    engine = create_engine(db)
    sm = create_sessionmaker(engine)
    async with unit_of_work(sm) as repos:
        user = await repos.users.by_telegram_id(FIRST_USER)
    assert user is not None
    config = Config(tz=ZoneInfo("Asia/Shanghai"), default_locale="zh_Hans")
    times: list[float] = []
    cpu = 0.0
    try:
        for i in range(filings + 50):  # the first 50 warm the caches
            d, extras = draft(30)
            start, start_cpu = time.perf_counter(), time.process_time()
            async with unit_of_work(sm) as repos:
                await submit_initial_report(repos, user, d, extras, config)
            if i >= 50:
                times.append(time.perf_counter() - start)
                cpu += time.process_time() - start_cpu
    finally:
        await engine.dispose()
        if backend == "postgresql":
            await drop_pg_database(db)
    return times, cpu / len(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--filings", type=int, default=600)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    print(f"{'backend':<12}{'filings':>8}{'CPU ms':>8}{'mean ms':>9}{'p50 ms':>8}{'p99 ms':>8}")
    for backend in args.backends.split(","):
        times, cpu = asyncio.run(run(backend, args.filings))
        q = statistics.quantiles(times, n=100)
        print(
            f"{backend:<12}{len(times):>8}{cpu * 1e3:>8.2f}{statistics.mean(times) * 1e3:>9.2f}"
            f"{q[49] * 1e3:>8.2f}{q[98] * 1e3:>8.2f}"
        )


if __name__ == "__main__":
    main()
