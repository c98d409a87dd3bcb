"""The benchmark script still runs end to end (tiny sizes; its figures are never asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import create_pg_database, drop_pg_database

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.subprocess


@pytest.fixture
async def pg_available() -> None:
    """PostgreSQL is there (the benchmark makes databases of its own), or the test is skipped (failed in CI)."""
    await drop_pg_database(await create_pg_database())


def test_benchmark_runs_and_prints_its_table() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.bench_report",
            "run",
            "--reports",
            "2",
            "--reporters",
            "2",
            "--backends",
            "memory,sqlite",
            "--stages",
            "1",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "baseline/memory" in proc.stdout and "ours/sqlite" in proc.stdout
    assert "ratio ours/sqlite : baseline/memory" in proc.stdout
    assert "submit" in proc.stdout  # the per-step table
    assert "state + user load" in proc.stdout and "SQL statements per update" in proc.stdout  # the stage timers


def test_benchmark_runs_webhook_workers_against_polling(pg_available: None) -> None:
    """Webhook mode: two workers on PostgreSQL against polling, with the POST-to-200 percentiles."""
    args = ["run", "--reports", "2", "--reporters", "2", "--stages", "0"]
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_report", *args, "--backends", "postgresql,webhook2-postgresql"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "ours/webhook2-postgresql" in proc.stdout and "webhook POST to its 200 p50" in proc.stdout
    assert "x polling's updates/s" in proc.stdout


def test_memory_benchmark_runs_and_prints_its_table() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_report", "memory", "--drafts", "20"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "Kuaibao with 20 open drafts" in proc.stdout and "baseline (MemoryStorage)" in proc.stdout


def test_scheduler_benchmark_runs_and_prints_its_table() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.bench_scheduler",
            "--pending",
            "300",
            "--due",
            "20",
            "--window",
            "3",
            "--idle",
            "1",
            "--backends",
            "sqlite",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "baseline/sqlite" in proc.stdout and "ours/sqlite" in proc.stdout


def test_broadcast_benchmark_runs_and_prints_its_table() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.bench_broadcast",
            "--people",
            "90",
            "--groups",
            "10",
            "--reporters",
            "1",
            "--quiet",
            "1",
            "--backends",
            "sqlite",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "sqlite" in proc.stdout and "ratio" in proc.stdout and "during broadcast" in proc.stdout


def test_desk_benchmark_runs_and_prints_its_table() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_desk", "--incidents", "300", "--runs", "3", "--backends", "sqlite"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "/stats month" in proc.stdout and "export one year" in proc.stdout and "query plans" in proc.stdout
