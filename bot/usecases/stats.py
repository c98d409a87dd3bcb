"""Statistics (/stats) and exports (/export, `python -m bot export`) of the duty desk (domain rules §4, §6).

The figures cover the asking person's unit and every unit below it. Exports stream: rows are read from the
database in batches and written as they come (xlsxwriter's constant-memory mode, or CSV files in a ZIP), so a
year of a province's reports never sits in memory whole."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import zipfile
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from html import unescape
from pathlib import Path
from typing import Any, Protocol

from bot.domain.categories import BY_CODE, subtype_label
from bot.domain.clocks import DUE_LABELS, Due
from bot.domain.dispatch import Assessment, assess
from bot.domain.dispatch import Part as DispatchPartFacts
from bot.domain.dispatch import State as DispatchState
from bot.domain.facts import casualty_figures
from bot.domain.grading import GRADE_LABELS, Grade
from bot.domain.stats import GRADES, Period, Stats, tally_by_category, timeliness
from bot.domain.text import N_
from bot.domain.units import units_with_descendants
from bot.usecases.common import Member
from conversations.form import Field, Scope
from conversations.formatting import join
from conversations.kinds import FreeText
from conversations.registry import FORMS
from storage.models import Unit
from storage.repositories import Repos

Tr = Callable[..., str]
FORMATS = ("xlsx", "csv")
SHEETS = ("incidents", "reports", "timeliness", "ledger", "table", "dispatch")
SHEET_TITLES = {"incidents": N_("export.sheet.incidents"), "reports": N_("export.sheet.reports"),
                "timeliness": N_("export.sheet.timeliness"), "ledger": N_("export.sheet.ledger"),
                "table": N_("export.sheet.table"), "dispatch": N_("export.sheet.dispatch")}  # fmt: skip
DISPATCH_COLS = (
    N_("export.col.linked_unit"),
    N_("export.col.orders"),
    N_("export.col.accepted"),
    N_("export.col.declined"),
    N_("export.col.arrived"),
    N_("export.col.on_time"),
    N_("export.col.on_time_rate"),
    N_("export.col.median_minutes"),
)
INCIDENT_COLS = (
    N_("export.col.number"),
    N_("export.col.unit"),
    N_("export.col.category"),
    N_("export.col.subtype"),
    N_("export.col.grade"),
    N_("export.col.suggested"),
    N_("export.col.occurred"),
    N_("export.col.place"),
    N_("export.col.deaths"),
    N_("export.col.missing"),
    N_("export.col.serious"),
    N_("export.col.injured"),
    N_("export.col.trapped"),
    N_("export.col.loss"),
    N_("export.col.status"),
    N_("export.col.reporter"),
    N_("export.col.created"),
    N_("export.col.closed"),
)
REPORT_COLS = (
    N_("export.col.number"),
    N_("export.col.kind"),
    N_("export.col.seq"),
    N_("export.col.unit"),
    N_("export.col.reporter"),
    N_("export.col.submitted"),
    N_("export.col.received"),
    N_("export.col.due"),
    N_("export.col.late"),
    N_("export.col.incomplete"),
    N_("export.col.unknown"),
    N_("export.col.grade"),
)
DEADLINE_COLS = (
    N_("export.col.number"),
    N_("export.col.unit"),
    N_("export.col.due_what"),
    N_("export.col.reporter"),
    N_("export.col.due"),
    N_("export.col.state"),
    N_("export.col.met"),
    N_("export.col.late"),
    N_("export.col.missed"),
)
LEDGER_COLS = (
    N_("export.col.received"),
    N_("export.col.number"),
    N_("export.col.kind"),
    N_("export.col.seq"),
    N_("export.col.grade"),
    N_("export.col.unit"),
    N_("export.col.reporter"),
    N_("export.col.late"),
    N_("export.col.ack_at"),
    N_("export.col.ack_by"),
)
TABLE_COLS = (
    N_("export.col.category"),
    N_("export.col.subtype"),
    N_("export.col.incidents"),
    N_("grade.I"),
    N_("grade.II"),
    N_("grade.III"),
    N_("grade.IV"),
    N_("export.col.deaths"),
    N_("export.col.missing"),
    N_("export.col.serious"),
    N_("export.col.injured"),
    N_("export.col.loss"),
)
REPORT_FORMS = ("initial", "flash", "phone", "followup", "final")
YIELD_EVERY = 500  # rows written between two chances for the event loop to serve others


def scope_units(all_units: Sequence[Unit], unit_id: int | None) -> set[int] | None:
    """The unit and every unit below it; None (no filter) for the whole tree or when no unit is given."""
    if unit_id is None:
        return None
    units = units_with_descendants([(u.id, u.parent_id) for u in all_units], [unit_id])
    return None if len(units) == len(all_units) else units


def export_name(period: Period, fmt: str) -> str:
    """kuaibao-20260101-20260630.xlsx (CSV files come in a .zip)."""
    return f"kuaibao-{period.first_day:%Y%m%d}-{period.last_day:%Y%m%d}.{'xlsx' if fmt == 'xlsx' else 'zip'}"


async def record_export(repos: Repos, actor: str, unit_id: int | None, period: Period, fmt: str, via: str) -> None:
    """Data leaving the system is audited: who, for which unit's tree (0: all), which period and format, how."""
    await repos.audit.record(
        actor,
        "export.create",
        "unit",
        unit_id or 0,
        after={"from": period.first_day.isoformat(), "to": period.last_day.isoformat(), "format": fmt, "via": via},
    )


async def stats(repos: Repos, user: Member, period: Period, now: datetime) -> Stats:
    """Counts by category and grade, the toll, and timeliness per unit, for the person's unit and below.
    Timeliness counts deadlines that fell due in the period up to now (a deadline still ahead is no fault)."""
    all_units = await repos.units.all()
    units = scope_units(all_units, user.unit_id)
    start, end = period.start, period.end
    categories, total = tally_by_category(await repos.stats.counts(units, start, end))
    counts = await repos.stats.deadline_counts(units, start, min(end, now))
    names = {u.id: u.name for u in all_units}
    rows, overall = timeliness(counts, names)
    scored = await assessments(repos, units, start, end)
    return Stats(period, names.get(user.unit_id, ""), categories, total, rows, overall, scored)


async def assessments(
    repos: Repos, units: set[int] | None, start: datetime, end: datetime
) -> tuple[tuple[str, Assessment], ...]:
    """管理考核: each linked unit's orders from the scope's offices dispatched in [start, end), by its name."""
    names: dict[int, str] = {}
    parts = []
    for part, name in await repos.dispatch.parts_ordered_by(units, start, end):
        names[part.linked_unit_id] = name
        parts.append(
            DispatchPartFacts(
                unit_id=part.linked_unit_id,
                state=DispatchState(part.state),
                dispatched_at=part.dispatched_at,
                due_at=part.due_at,
                accepted_at=part.accepted_at,
                arrived_at=part.arrived_at,
            )
        )
    return tuple((names[a.unit_id], a) for a in sorted(assess(parts), key=lambda a: names[a.unit_id]))


# ---- exports ---------------------------------------------------------------------------------------------
class Sink(Protocol):
    def sheet(self, name: str, title: str, header: list[str], widths: list[int]) -> None: ...
    def row(self, values: list[Any]) -> None: ...
    def close(self) -> None: ...


class XlsxSink:
    """xlsxwriter in constant-memory mode: each row goes to a temporary file as it is written."""

    def __init__(self, path: Path) -> None:
        import xlsxwriter

        options = {
            "constant_memory": True,
            "strings_to_numbers": False,
            "strings_to_formulas": False,
            "strings_to_urls": False,
        }  # user text stays text: never a formula, a number or a link
        self.book = xlsxwriter.Workbook(str(path), options)
        self.bold = self.book.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
        self.when = self.book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
        self.ws: Any = None
        self.n = 0

    def sheet(self, name: str, title: str, header: list[str], widths: list[int]) -> None:
        self.ws = self.book.add_worksheet(title[:31])
        for i, w in enumerate(widths):
            self.ws.set_column(i, i, w)
        self.ws.write_row(0, 0, header, self.bold)
        self.ws.freeze_panes(1, 0)
        self.n = 1

    def row(self, values: list[Any]) -> None:
        for col, value in enumerate(values):
            if isinstance(value, datetime):
                self.ws.write_datetime(self.n, col, value.replace(tzinfo=None), self.when)
            elif value is None:
                continue
            else:
                self.ws.write(self.n, col, value)
        self.n += 1

    def close(self) -> None:
        self.book.close()


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what Excel would run as a formula when it opens a CSV


def _csv_cell(value: Any) -> Any:
    """A CSV cell: times as local text; user text that Excel would take for a formula is kept as text ('=…)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


class CsvZipSink:
    """One CSV per sheet in a ZIP, each UTF-8 with a BOM (so Excel opens the Chinese correctly)."""

    def __init__(self, path: Path) -> None:
        self.zip = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED)
        self.stream: Any = None
        self.writer: Any = None

    def sheet(self, name: str, title: str, header: list[str], widths: list[int]) -> None:
        self._end()
        self.stream = io.TextIOWrapper(self.zip.open(f"{name}.csv", "w"), encoding="utf-8-sig", newline="")
        self.writer = csv.writer(self.stream)
        self.writer.writerow(header)

    def row(self, values: list[Any]) -> None:
        self.writer.writerow([_csv_cell(v) for v in values])

    def _end(self) -> None:
        if self.stream is not None:
            self.stream.close()
            self.stream = None

    def close(self) -> None:
        self._end()
        self.zip.close()


TAGS = re.compile(r"<[^>]+>")


def plain(html_text: str) -> str:
    """A rendered (escaped HTML) answer as plain text for a cell: tags dropped, then entities read."""
    return unescape(TAGS.sub("", html_text))


class Cells:
    """Answers as a spreadsheet shows them: the form's own rendering (labels in the reader's language, figures
    with units), remembered per distinct answer, since a year's reports repeat the same choices."""

    def __init__(self, tr: Tr, tz: tzinfo) -> None:
        self.tr, self.tz = tr, tz
        self.fields: dict[str, Field] = {}
        for form_id in REPORT_FORMS:
            for f in FORMS[form_id].fields:
                self.fields.setdefault(f.id, f)
        self.memo: dict[tuple[str, str, str], str] = {}

    def value(self, field_id: str, value: Any, answers: dict[str, Any]) -> Any:
        if value is None or value == "" or value == [] or value == {}:
            return None
        f = self.fields.get(field_id)
        if f is None:
            return value if isinstance(value, str | int | float) else json.dumps(value, ensure_ascii=False)
        if isinstance(f.kind, FreeText) and isinstance(value, str):
            return value
        context = "|".join(str(answers.get(d)) for d in f.depends_on)
        key = (field_id, json.dumps(value, sort_keys=True, ensure_ascii=False), context)
        found = self.memo.get(key)
        if found is None:
            scope = Scope(answers, {}, datetime.now(self.tz), self.tz, self.tr)
            try:
                found = plain(f.kind.render(value, scope))
            except Exception:  # an answer stored by an older form version: shown as stored
                found = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
            if len(self.memo) < 50_000:
                self.memo[key] = found
        return found


@dataclass(frozen=True)
class Exported:
    path: Path
    rows: dict[str, int]  # rows written per sheet


def _labels(tr: Tr) -> dict[str, Callable[..., str]]:
    return {
        "grade": lambda g: tr(GRADE_LABELS[Grade(g)]) if g in set(GRADES) else (g or ""),
        "category": lambda c: tr(BY_CODE[c].label) if c in BY_CODE else c,
        "subtype": lambda c, s: tr(subtype_label(c, s or "")) if subtype_label(c, s or "") else (s or ""),
    }


KIND_LABELS = {"initial": N_("deadline.initial"), "flash": N_("report.kind.flash"), "phone": N_("report.kind.phone"),
               "followup": N_("deadline.followup"), "final": N_("deadline.final")}  # fmt: skip
DEADLINE_STATES = {"open": N_("export.state.open"), "met": N_("export.state.met"), "missed": N_("export.state.missed"),
                   "cancelled": N_("export.state.cancelled")}  # fmt: skip
INCIDENT_STATES = {
    "open": N_("desk.state.open"),
    "handled": N_("desk.state.handled"),
    "closed": N_("desk.state.closed"),
}


async def write_export(
    repos: Repos,
    unit_id: int | None,
    start: datetime,
    end: datetime,
    fmt: str,
    path: Path,
    tr: Tr,
    tz: tzinfo,
    now: datetime,
    sheets: Iterable[str] = SHEETS,
) -> Exported:
    """Write the export of [start, end) for a unit's tree (None: every unit) to `path`, streaming."""
    units = scope_units(await repos.units.all(), unit_id)
    sink: Sink = XlsxSink(path) if fmt == "xlsx" else CsvZipSink(path)
    label = _labels(tr)
    written: dict[str, int] = {}

    def local(value: datetime | None) -> datetime | None:
        return value.astimezone(tz) if value is not None else None

    def yes(flag: bool) -> str:
        return tr("export.yes") if flag else ""

    async def pump(
        name: str, header: list[str], widths: list[int], rows: AsyncIterator[Any], cells: Callable[[Any], list[Any]]
    ) -> None:
        sink.sheet(name, tr(SHEET_TITLES[name]), header, widths)
        n = 0
        async for row in rows:
            sink.row(cells(row))
            n += 1
            if n % YIELD_EVERY == 0:
                await asyncio.sleep(0)
        written[name] = n

    try:
        wanted = set(sheets)
        if "incidents" in wanted:
            header = [tr(k) for k in INCIDENT_COLS]

            def incident_cells(r: Any) -> list[Any]:
                i, unit, reporter = r
                facts = i.facts()
                return [
                    i.number,
                    unit,
                    label["category"](i.category),
                    label["subtype"](i.category, i.subtype),
                    label["grade"](i.grade),
                    label["grade"](i.suggested_grade),
                    local(i.occurred_at),
                    facts.place.text,
                    *casualty_figures(facts.known_casualties).values(),
                    facts.loss_cny,
                    tr(INCIDENT_STATES.get(i.status, i.status)),
                    reporter,
                    local(i.created_at),
                    local(i.closed_at),
                ]

            await pump(
                "incidents",
                header,
                [20, 18, 12, 14, 10, 10, 17, 30] + [8] * 6 + [8, 10, 17, 17],
                repos.stats.incidents(units, start, end),
                incident_cells,
            )
        if "reports" in wanted:
            cells = Cells(tr, tz)
            fixed = [tr(k) for k in REPORT_COLS]
            field_ids = list(cells.fields)
            header = fixed + [tr(cells.fields[f].label) for f in field_ids] + [tr("export.col.other")]

            def report_cells(r: Any) -> list[Any]:
                report, number, unit, reporter = r
                answers = dict(report.fields or {})
                grade = (answers.pop("_grade", None) or {}).get("grade")
                values = [
                    number,
                    tr(KIND_LABELS.get(report.kind, report.kind)),
                    report.seq or None,
                    unit,
                    reporter,
                    local(report.submitted_at),
                    local(report.received_at),
                    local(report.due_at),
                    yes(report.late),
                    yes(report.incomplete),
                    join(list(report.unknown or []), tr) or None,
                    label["grade"](grade) if grade else None,
                ]
                values += [cells.value(f, answers.get(f), answers) for f in field_ids]
                other = {k: v for k, v in answers.items() if k not in cells.fields}
                values.append(json.dumps(other, ensure_ascii=False) if other else None)
                return values

            await pump(
                "reports",
                header,
                [20, 10, 6, 18, 10, 17, 17, 17, 6, 6, 16, 10] + [18] * len(field_ids) + [20],
                repos.stats.reports(units, start, end),
                report_cells,
            )
        if "timeliness" in wanted:
            header = [tr(k) for k in DEADLINE_COLS]

            def deadline_cells(r: Any) -> list[Any]:
                d, number, unit, reporter = r
                what = tr("due.followup_n", n=d.seq) if d.due == "followup" and d.seq else tr(DUE_LABELS[Due(d.due)])
                return [
                    number,
                    unit,
                    what,
                    reporter,
                    local(d.due_at),
                    tr(DEADLINE_STATES.get(d.state, d.state)),
                    local(d.met_at),
                    yes(d.late),
                    yes(d.state == "missed"),
                ]

            await pump(
                "timeliness",
                header,
                [20, 18, 12, 10, 17, 8, 17, 6, 6],
                repos.stats.deadlines(units, start, min(end, now)),
                deadline_cells,
            )
        if "ledger" in wanted:
            header = [tr(k) for k in LEDGER_COLS]

            def ledger_cells(r: Any) -> list[Any]:
                _id, received, kind, seq, late, number, grade, unit, reporter, ack_at, ack_by = r
                return [
                    local(received),
                    number,
                    tr(KIND_LABELS.get(kind, kind)),
                    seq or None,
                    label["grade"](grade),
                    unit,
                    reporter,
                    yes(late),
                    local(ack_at),
                    ack_by,
                ]

            await pump(
                "ledger",
                header,
                [17, 20, 10, 6, 10, 18, 10, 6, 17, 10],
                repos.stats.ledger(units, start, end),
                ledger_cells,
            )
        if "table" in wanted:
            header = [tr(k) for k in TABLE_COLS]
            rows = await repos.stats.by_subtype(units, start, end)

            async def table_rows() -> AsyncIterator[Any]:
                order = {c: i for i, c in enumerate(BY_CODE)}
                totals = [0] * 10
                for r in sorted(rows, key=lambda r: (order.get(r[0], 99), r[1] or "")):
                    totals = [a + int(b) for a, b in zip(totals, r[2:], strict=True)]
                    yield [label["category"](r[0]), label["subtype"](r[0], r[1]), *(int(v) for v in r[2:])]
                yield [tr("export.total"), "", *totals]

            def table_cells(values: Any) -> list[Any]:
                values[-1] = values[-1] or 0  # a loss of 0 yuan is written, not left empty
                return list(values)

            await pump("table", header, [12, 16, 8, 6, 6, 6, 6, 8, 8, 8, 8, 14], table_rows(), table_cells)
        if "dispatch" in wanted:  # 管理考核: one row per linked unit
            scored = await assessments(repos, units, start, end)

            async def dispatch_rows() -> AsyncIterator[Any]:
                for row in scored:
                    yield row

            def dispatch_cells(row: Any) -> list[Any]:
                name, a = row
                rate = round(a.on_time_rate * 100, 1) if a.on_time_rate is not None else None
                median = round(a.median_minutes, 1) if a.median_minutes is not None else None
                return [name, a.orders, a.accepted, a.declined, a.arrived, a.on_time, rate, median]

            header = [tr(k) for k in DISPATCH_COLS]
            await pump("dispatch", header, [20, 8, 8, 8, 8, 8, 10, 10], dispatch_rows(), dispatch_cells)
    finally:
        sink.close()
    return Exported(path, written)
