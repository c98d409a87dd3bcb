"""Statistics of the duty desk (domain rules §4): the period a question covers, counts by category and grade,
casualties and losses, and timeliness per unit (on time, 迟报, 漏报, incomplete reports). Pure: the database
does the grouping, this module the arithmetic and the order, so the figures can be checked by hand."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo

from bot.domain.categories import CATEGORIES
from bot.domain.clock import supported
from bot.domain.dispatch import Assessment
from bot.domain.grading import GRADE_ORDER, Grade

MAX_DAYS = 3 * 366  # the longest range one question may cover (a three-year comparison)
GRADES: tuple[str, ...] = (*(g.value for g in GRADE_ORDER), Grade.UNGRADED.value)
CATEGORY_ORDER: tuple[str, ...] = tuple(c.code for c in CATEGORIES)

# the words /stats understands for a period, in either language, to its kind
PERIOD_WORDS = {
    "": "month",
    "week": "week", "周": "week", "本周": "week",
    "month": "month", "月": "month", "本月": "month",
    "quarter": "quarter", "季": "quarter", "季度": "quarter", "本季度": "quarter",
    "half": "half", "半年": "half", "上半年": "half", "下半年": "half",
    "year": "year", "年": "year", "本年": "year", "全年": "year",
}  # fmt: skip
# the words /ledger understands for a day, to how many days back
DAY_WORDS = {"": 0, "today": 0, "今天": 0, "yesterday": 1, "昨天": 1}
RANGE = re.compile(r"^(\d{4}-\d{1,2}-\d{1,2})\s*(?:\.\.|~|～|至|到|—|/)\s*(\d{4}-\d{1,2}-\d{1,2})$")


@dataclass(frozen=True)
class Period:
    """[start, end) in local time; `kind` is week, month, quarter, half, year or range; `days` counts the
    local days it covers."""

    kind: str
    start: datetime
    end: datetime

    @property
    def first_day(self) -> date:
        return self.start.date()

    @property
    def last_day(self) -> date:
        return (self.end - timedelta(days=1)).date()


class PeriodError(ValueError):
    """The text is no period we understand (`reason`: unreadable, range, order, too_long)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _midnight(day: date, tz: tzinfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=tz)


def period_of(text: str, now: datetime, tz: tzinfo) -> Period:
    """The calendar period that contains `now` (this week from Monday, this month, quarter, half-year, year),
    or an explicit range of local days, both ends included (2026-01-01..2026-06-30)."""
    text = text.strip().lower()
    today = now.astimezone(tz).date()
    kind = PERIOD_WORDS.get(text)
    if kind == "week":
        first = today - timedelta(days=today.weekday())
        return Period(kind, _midnight(first, tz), _midnight(first + timedelta(days=7), tz))
    if kind is not None:
        months = {"month": 1, "quarter": 3, "half": 6, "year": 12}[kind]
        start_month = (today.month - 1) // months * months + 1
        first = date(today.year, start_month, 1)
        end_month = start_month + months
        last = date(today.year + (end_month - 1) // 12, (end_month - 1) % 12 + 1, 1)
        return Period(kind, _midnight(first, tz), _midnight(last, tz))
    found = RANGE.match(text)
    if found is None:
        raise PeriodError("unreadable")
    try:
        first, last = (date.fromisoformat("-".join(p.zfill(2) for p in g.split("-"))) for g in found.groups())
    except ValueError:
        raise PeriodError("unreadable") from None
    if not (supported(first) and supported(last)):
        raise PeriodError("range")
    if last < first:
        raise PeriodError("order")
    if (last - first).days + 1 > MAX_DAYS:
        raise PeriodError("too_long")
    return Period("range", _midnight(first, tz), _midnight(last + timedelta(days=1), tz))


def half_year_of(day: date) -> tuple[date, date]:
    """The statutory half-year the day falls in (the tables are due end of July and end of January)."""
    return (
        (date(day.year, 1, 1), date(day.year, 7, 1))
        if day.month <= 6
        else (date(day.year, 7, 1), date(day.year + 1, 1, 1))
    )


# ---- counts ----------------------------------------------------------------------------------------------
@dataclass
class Tally:
    """Incidents and their toll: by grade, deaths, missing, injuries (serious ones among them), direct loss."""

    incidents: int = 0
    by_grade: dict[str, int] = field(default_factory=dict)
    deaths: int = 0
    missing: int = 0
    serious: int = 0
    injuries: int = 0  # every injured person, the seriously injured included
    loss_cny: int = 0

    def add(self, other: Tally) -> None:
        self.incidents += other.incidents
        for grade, n in other.by_grade.items():
            self.by_grade[grade] = self.by_grade.get(grade, 0) + n
        self.deaths += other.deaths
        self.missing += other.missing
        self.serious += other.serious
        self.injuries += other.injuries
        self.loss_cny += other.loss_cny


@dataclass(frozen=True)
class CountRow:
    """One group of the database's count: incidents of a category and grade with the sums of their figures
    (an unknown figure counts as 0; `injuries` as stored: the slightly injured, `serious` apart)."""

    category: str
    grade: str
    incidents: int
    deaths: int = 0
    missing: int = 0
    serious: int = 0
    injuries: int = 0
    loss_cny: int = 0


def tally_by_category(rows: Iterable[CountRow]) -> tuple[dict[str, Tally], Tally]:
    """Per category (in the order of domain rules §1, categories with nothing left out) and the total."""
    found: dict[str, Tally] = {}
    for row in rows:
        one = Tally(
            row.incidents,
            {row.grade: row.incidents},
            row.deaths,
            row.missing,
            row.serious,
            row.injuries + row.serious,
            row.loss_cny,
        )
        found.setdefault(row.category, Tally()).add(one)
    order = [c for c in CATEGORY_ORDER if c in found] + sorted(c for c in found if c not in CATEGORY_ORDER)
    total = Tally()
    for tally in found.values():
        total.add(tally)
    return {c: found[c] for c in order}, total


# ---- timeliness ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DeadlineCounts:
    """One unit's deadlines that fell due in the period (cancelled ones left out) and its reports received:
    met on time, 迟报 (the deadline passed while it was open: filed late or still overdue), 漏报 (recorded as
    missed), still open within time (not counted), and reports received with key elements unknown."""

    unit_id: int
    due: int = 0
    on_time: int = 0
    late: int = 0
    missed: int = 0
    reports: int = 0
    incomplete: int = 0


@dataclass(frozen=True)
class Timeliness:
    unit_id: int
    unit: str
    due: int
    on_time: int
    late: int
    missed: int
    reports: int
    incomplete: int

    @property
    def rate(self) -> float | None:
        """On-time rate: deadlines met on time over deadlines that fell due; None when none fell due."""
        return self.on_time / self.due if self.due else None


def timeliness(counts: Iterable[DeadlineCounts], names: dict[int, str]) -> tuple[list[Timeliness], Timeliness]:
    """Per unit, the worst first (lowest on-time rate, then most 漏报 and 迟报), and the whole scope."""
    merged: dict[int, DeadlineCounts] = {}
    for c in counts:
        was = merged.get(c.unit_id, DeadlineCounts(c.unit_id))
        merged[c.unit_id] = DeadlineCounts(
            c.unit_id,
            was.due + c.due,
            was.on_time + c.on_time,
            was.late + c.late,
            was.missed + c.missed,
            was.reports + c.reports,
            was.incomplete + c.incomplete,
        )
    rows = [
        Timeliness(u, names.get(u, str(u)), c.due, c.on_time, c.late, c.missed, c.reports, c.incomplete)
        for u, c in merged.items()
    ]
    rows.sort(key=lambda t: (t.rate if t.rate is not None else 2.0, -t.missed, -t.late, -t.incomplete, t.unit))
    total = Timeliness(
        0,
        "",
        *(sum(getattr(r, k) for r in rows) for k in ("due", "on_time", "late", "missed", "reports", "incomplete")),
    )
    return rows, total


@dataclass(frozen=True)
class Stats:
    period: Period
    scope: str  # the unit whose tree the figures cover
    categories: dict[str, Tally]
    total: Tally
    units: list[Timeliness]
    timeliness: Timeliness
    # 管理考核: per linked unit ordered out by the scope's offices in the period (its name and its figures)
    dispatch: tuple[tuple[str, Assessment], ...] = ()
