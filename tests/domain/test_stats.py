"""The statistics' arithmetic, checked against figures computed by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.domain.stats import (
    CountRow,
    DeadlineCounts,
    PeriodError,
    half_year_of,
    period_of,
    tally_by_category,
    timeliness,
)

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 24, 1, 30, tzinfo=UTC)  # 09:30 on Tuesday 24 November in Beijing


@pytest.mark.parametrize(
    ("text", "first", "last"),
    [
        ("", date(2026, 11, 1), date(2026, 11, 30)),
        ("week", date(2026, 11, 23), date(2026, 11, 29)),
        ("本月", date(2026, 11, 1), date(2026, 11, 30)),
        ("quarter", date(2026, 10, 1), date(2026, 12, 31)),
        ("half", date(2026, 7, 1), date(2026, 12, 31)),
        ("年", date(2026, 1, 1), date(2026, 12, 31)),
        ("2026-01-01..2026-06-30", date(2026, 1, 1), date(2026, 6, 30)),
        ("2026-2-1 至 2026-2-28", date(2026, 2, 1), date(2026, 2, 28)),
        ("2026-03-05..2026-03-05", date(2026, 3, 5), date(2026, 3, 5)),
    ],
)
def test_periods(text: str, first: date, last: date) -> None:
    period = period_of(text, NOW, TZ)
    assert (period.first_day, period.last_day) == (first, last)
    assert period.start.utcoffset() is not None and period.start.hour == 0


def test_the_local_day_decides_the_period() -> None:
    late_on_the_31st = datetime(2026, 12, 31, 17, 0, tzinfo=UTC)  # already 1 January 2027 in Beijing
    assert period_of("month", late_on_the_31st, TZ).first_day == date(2027, 1, 1)
    assert period_of("week", datetime(2026, 11, 29, 16, 30, tzinfo=UTC), TZ).first_day == date(2026, 11, 30)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("yesterday", "unreadable"),
        ("2026-02-30..2026-03-01", "unreadable"),
        ("2026-06-30..2026-01-01", "order"),
        ("2020-01-01..2026-01-01", "too_long"),
        ("<b>", "unreadable"),
    ],
)
def test_bad_periods(text: str, reason: str) -> None:
    with pytest.raises(PeriodError) as caught:
        period_of(text, NOW, TZ)
    assert caught.value.reason == reason


def test_half_years() -> None:
    assert half_year_of(date(2026, 6, 30)) == (date(2026, 1, 1), date(2026, 7, 1))
    assert half_year_of(date(2026, 7, 1)) == (date(2026, 7, 1), date(2027, 1, 1))


def test_tally_by_category_by_hand() -> None:
    rows = [
        CountRow("accident", "IV", 3, deaths=1, missing=0, serious=2, injuries=4, loss_cny=150_000),
        CountRow("natural", "III", 1, deaths=4, missing=2, serious=0, injuries=1, loss_cny=0),
        CountRow("accident", "II", 1, deaths=12, missing=0, serious=5, injuries=0, loss_cny=30_000_000),
        CountRow("natural", "ungraded", 2),
    ]
    categories, total = tally_by_category(rows)
    assert list(categories) == ["natural", "accident"]  # the order of domain rules §1
    accident = categories["accident"]
    assert (accident.incidents, accident.by_grade) == (4, {"IV": 3, "II": 1})
    assert (accident.deaths, accident.serious, accident.injuries, accident.loss_cny) == (13, 7, 11, 30_150_000)
    assert (total.incidents, total.deaths, total.missing, total.injuries) == (7, 17, 2, 12)
    assert total.by_grade == {"IV": 3, "II": 1, "III": 1, "ungraded": 2}


def test_timeliness_by_hand() -> None:
    counts = [
        DeadlineCounts(1, due=10, on_time=9, late=1, missed=0, reports=12, incomplete=1),
        DeadlineCounts(2, due=4, on_time=1, late=2, missed=1, reports=3, incomplete=0),
        DeadlineCounts(3, due=0, reports=1),
        DeadlineCounts(2, due=1, on_time=1),  # a second batch of the same unit adds up
    ]
    rows, total = timeliness(counts, {1: "市局", 2: "县局", 3: "乡镇"})
    assert [r.unit for r in rows] == ["县局", "市局", "乡镇"]  # the worst rate first; none due last
    assert rows[0].rate == pytest.approx(2 / 5) and rows[1].rate == pytest.approx(0.9) and rows[2].rate is None
    assert (total.due, total.on_time, total.late, total.missed, total.reports, total.incomplete) == (
        15,
        11,
        3,
        1,
        16,
        1,
    )
    assert total.rate == pytest.approx(11 / 15)
