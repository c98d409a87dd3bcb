"""The duty roster (值班表, domain rules §6) as a table: one row per person per shift. Pure: reading CSV or XLSX
bytes into rows, and checking every row (with its line number and the reason) before anything is stored.

Columns (a header row names them, in Chinese or English, in any order):
单位/unit (code), 开始/start, 结束/end (local time: 2026-06-01 08:00), 角色/role (带班领导/leader or
值班员/officer), 姓名/name, 电话/phone (optional), 班次/shift (主班/primary or 副班/secondary; default primary).
The rows of one unit with the same start, end and shift make one shift."""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from bot.domain.text import N_

COLUMNS: dict[str, tuple[str, ...]] = {
    "unit": ("单位", "unit", "单位代码", "unit code"),
    "start": ("开始", "start", "开始时间", "starts"),
    "end": ("结束", "end", "结束时间", "ends"),
    "role": ("角色", "role", "职责"),
    "name": ("姓名", "name"),
    "phone": ("电话", "phone", "手机", "联系电话"),
    "shift": ("班次", "shift"),
}
REQUIRED = ("unit", "start", "end", "role", "name")
ROLES = {"带班领导": "leader", "带班": "leader", "leader": "leader", "duty leader": "leader",
         "值班员": "officer", "值班": "officer", "officer": "officer", "duty officer": "officer"}  # fmt: skip
SHIFTS = {"": "primary", "主班": "primary", "primary": "primary", "副班": "secondary", "secondary": "secondary"}
PHONE = re.compile(r"^\+?[\d\- ]{5,20}$")
TIME_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S")


class RosterFileError(Exception):
    """The file cannot be read as a table, or passes one of the limits (a catalog id; `params` name the limit)."""

    def __init__(self, msgid: str, **params: Any) -> None:
        super().__init__(msgid)
        self.params = params


@dataclass(frozen=True)
class TableLimits:
    """What an untrusted roster file may hold (settings ROSTER_MAX_*): checked while it is read, before a cell is
    kept; an XLSX's `<dimension>` is never trusted, and its members' uncompressed size is summed before anything is
    decompressed (Python's zipfile never inflates a member past its declared size)."""

    max_bytes: int = 5 * 1024 * 1024
    max_rows: int = 20_000
    max_columns: int = 16
    max_cell_chars: int = 500
    max_unzipped: int = 8 * 1024 * 1024  # an XLSX's members together, uncompressed (its shared strings: half of it)
    max_members: int = 64  # files inside an XLSX


DEFAULT_LIMITS = TableLimits()
MAX_BYTES = DEFAULT_LIMITS.max_bytes
MAX_ROWS = DEFAULT_LIMITS.max_rows


@dataclass(frozen=True)
class Problem:
    line: int
    msgid: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Shift:
    unit: str
    kind: str  # primary | secondary
    start: datetime
    end: datetime
    leaders: list[tuple[str, str | None]] = field(default_factory=list)  # (name, phone)
    officers: list[tuple[str, str | None]] = field(default_factory=list)
    line: int = 0  # the first row of it


def size_text(n: int) -> str:
    """A byte limit as a person reads it: 5 MB, 512 KB."""
    for unit, size in (("MB", 1024 * 1024), ("KB", 1024)):
        if n >= size:
            return f"{n / size:.4g} {unit}"
    return f"{n} B"


def read_table(data: bytes, filename: str, limits: TableLimits = DEFAULT_LIMITS) -> list[list[str]]:
    """A CSV (UTF-8, with or without BOM; GBK as Excel in China saves it) or XLSX file as rows of text, read row by
    row within `limits` (RosterFileError naming the limit passed)."""
    if len(data) > limits.max_bytes:
        raise RosterFileError(N_("roster.error.too_big"), limit=size_text(limits.max_bytes))
    if filename.lower().endswith((".xlsx", ".xlsm")):
        return _bounded(_xlsx_rows(data, limits), limits)
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            codecs.getincrementaldecoder(encoding)().decode(data, final=True)  # readable? (the text is not kept)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise RosterFileError(N_("roster.error.unreadable"))
    lines = io.TextIOWrapper(io.BytesIO(data), encoding=encoding, newline="")  # decoded a line at a time
    try:
        return _bounded(csv.reader(lines), limits)
    except csv.Error:
        raise RosterFileError(N_("roster.error.unreadable")) from None


def _bounded(rows: Iterable[Sequence[Any]], limits: TableLimits) -> list[list[str]]:
    """Rows kept one at a time, each checked against the limits before the next is read (a header row and
    `max_rows` rows below it; trailing empty cells do not count as columns)."""
    out: list[list[str]] = []
    for line, row in enumerate(rows, start=1):
        if line > limits.max_rows + 1:
            raise RosterFileError(N_("roster.error.too_many"), n=limits.max_rows)
        cells = ["" if c is None else _cell(c) for c in row]
        while cells and not cells[-1]:
            cells.pop()
        if len(cells) > limits.max_columns:
            raise RosterFileError(N_("roster.error.too_wide"), line=line, n=limits.max_columns)
        if any(len(c) > limits.max_cell_chars for c in cells):
            raise RosterFileError(N_("roster.error.cell_too_long"), line=line, n=limits.max_cell_chars)
        out.append(cells)
    return out


def _xlsx_rows(data: bytes, limits: TableLimits) -> Iterator[Sequence[Any]]:
    import zipfile

    try:
        members = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, ValueError):
        raise RosterFileError(N_("roster.error.unreadable")) from None
    if len(members) > limits.max_members:
        raise RosterFileError(N_("roster.error.too_many_parts"), n=limits.max_members)
    if sum(m.file_size for m in members) > limits.max_unzipped:  # a zip bomb: refused before inflating
        raise RosterFileError(N_("roster.error.unzipped_too_big"), limit=size_text(limits.max_unzipped))
    strings = sum(m.file_size for m in members if m.filename.lower().endswith("sharedstrings.xml"))
    if strings > limits.max_unzipped // 2:  # read whole before the first row: the costliest part per byte
        raise RosterFileError(N_("roster.error.strings_too_big"), limit=size_text(limits.max_unzipped // 2))
    from openpyxl import load_workbook  # a maintained reader; read-only streams the sheet

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:
        raise RosterFileError(N_("roster.error.unreadable")) from None
    try:
        sheet = book.worksheets[0]
        sheet.reset_dimensions()  # never trust <dimension>: rows are not padded to what it claims
        # one column more than allowed is read, so that a row reaching past the limit is refused, not cut
        yield from sheet.iter_rows(values_only=True, max_col=limits.max_columns + 1)
    except RosterFileError:
        raise
    except Exception:
        raise RosterFileError(N_("roster.error.unreadable")) from None
    finally:
        book.close()


def _cell(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value).strip()


def _header(row: Sequence[str]) -> dict[str, int] | None:
    names = {alias.lower(): key for key, aliases in COLUMNS.items() for alias in aliases}
    found = {names[c.strip().lower()]: i for i, c in enumerate(row) if c.strip().lower() in names}
    return found if all(k in found for k in REQUIRED) else None


def _time(text: str, tz: tzinfo) -> datetime | None:
    for fmt in TIME_FORMATS:
        try:
            return datetime.strptime(text.strip(), fmt).replace(tzinfo=tz)
        except ValueError:
            continue
    return None


def parse_roster(rows: Sequence[Sequence[str]], units: Iterable[str], tz: tzinfo) -> tuple[list[Shift], list[Problem]]:
    """Every row checked (line numbers as a spreadsheet shows them); shifts only when there is no problem."""
    problems: list[Problem] = []
    if not rows:
        return [], [Problem(1, N_("roster.error.empty"))]
    header = _header(rows[0])
    if header is None:
        return [], [Problem(1, N_("roster.error.header"), {"columns": "、".join(c[0] for c in COLUMNS.values())})]
    known = set(units)
    shifts: dict[tuple[str, str, datetime, datetime], Shift] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue

        def get(key: str, row: Sequence[str] = row) -> str:
            i = header.get(key)
            return row[i].strip() if i is not None and i < len(row) and row[i] is not None else ""

        unit, role, name, phone = get("unit"), get("role"), get("name"), get("phone")
        start, end = _time(get("start"), tz), _time(get("end"), tz)
        kind = SHIFTS.get(get("shift").lower())
        if unit not in known:
            problems.append(Problem(line, N_("roster.error.unit"), {"unit": unit or "-"}))
        elif start is None:
            problems.append(Problem(line, N_("roster.error.time"), {"column": "start", "value": get("start") or "-"}))
        elif end is None:
            problems.append(Problem(line, N_("roster.error.time"), {"column": "end", "value": get("end") or "-"}))
        elif end <= start:
            problems.append(Problem(line, N_("roster.error.order")))
        elif (end - start).total_seconds() > 48 * 3600:
            problems.append(Problem(line, N_("roster.error.too_long")))
        elif role.lower() not in ROLES:
            problems.append(Problem(line, N_("roster.error.role"), {"role": role or "-"}))
        elif not name or len(name) > 100:
            problems.append(Problem(line, N_("roster.error.name")))
        elif phone and not PHONE.match(phone):
            problems.append(Problem(line, N_("roster.error.phone"), {"phone": phone}))
        elif kind is None:
            problems.append(Problem(line, N_("roster.error.shift"), {"shift": get("shift")}))
        else:
            key = (unit, kind, start, end)
            shift = shifts.setdefault(key, Shift(unit, kind, start, end, line=line))
            people = shift.leaders if ROLES[role.lower()] == "leader" else shift.officers
            if any(n == name for n, _ in people):
                problems.append(Problem(line, N_("roster.error.duplicate"), {"name": name}))
            else:
                people.append((name, phone or None))
    by_slot: dict[tuple[str, str], list[Shift]] = {}
    for shift in shifts.values():
        by_slot.setdefault((shift.unit, shift.kind), []).append(shift)
    for slot in by_slot.values():
        slot.sort(key=lambda s: s.start)
        for before, after in itertools.pairwise(slot):
            if after.start < before.end:
                problems.append(Problem(after.line, N_("roster.error.overlap"), {"line": before.line}))
    problems.sort(key=lambda p: p.line)
    return ([] if problems else sorted(shifts.values(), key=lambda s: (s.unit, s.start, s.kind))), problems
