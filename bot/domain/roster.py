"""The duty roster (值班表, domain rules §6) as a table: one row per person per shift. Pure: reading CSV or XLSX
bytes into rows, and checking every row (with its line number and the reason) before anything is stored.

Columns (a header row names them, in Chinese or English, in any order):
单位/unit (code), 开始/start, 结束/end (local time: 2026-06-01 08:00), 角色/role (带班领导/leader or
值班员/officer), 姓名/name, 电话/phone (optional), 班次/shift (主班/primary or 副班/secondary; default primary).
The rows of one unit with the same start, end and shift make one shift."""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from bot.domain.text import N_

MAX_ROWS = 20_000
MAX_BYTES = 5 * 1024 * 1024
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
    """The file cannot be read as a table at all (the message is a catalog id)."""


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


def read_table(data: bytes, filename: str) -> list[list[str]]:
    """A CSV (UTF-8, with or without BOM; GBK as Excel in China saves it) or XLSX file as rows of text."""
    if len(data) > MAX_BYTES:
        raise RosterFileError(N_("roster.error.too_big"))
    if filename.lower().endswith((".xlsx", ".xlsm")):
        from openpyxl import load_workbook  # a maintained reader; read-only keeps memory flat

        try:
            book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception:
            raise RosterFileError(N_("roster.error.unreadable")) from None
        sheet = book.worksheets[0]
        rows = [["" if c is None else _cell(c) for c in row] for row in sheet.iter_rows(values_only=True)]
        book.close()
        return rows
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise RosterFileError(N_("roster.error.unreadable"))
    return [row for row in csv.reader(io.StringIO(text))]


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
    if len(rows) > MAX_ROWS + 1:
        return [], [Problem(MAX_ROWS + 2, N_("roster.error.too_many"), {"n": MAX_ROWS})]
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
