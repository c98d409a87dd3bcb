"""The duty roster (domain rules §6): import it (all or nothing, every bad row named), show who is on duty now
and next, tell each duty group who takes over at a shift change (through the lifecycle scheduler)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.domain.roster import Problem, RosterFileError, parse_roster, read_table
from bot.domain.warnings import units_with_descendants
from bot.usecases.common import Config, Member
from storage.models import Shift
from storage.repositories import Repos, wake_at

BOARD_UNITS = 30  # units listed by /duty (the person's own first, then those below)


@dataclass
class Imported:
    shifts: int = 0
    units: int = 0
    problems: list[Problem] = field(default_factory=list)


@dataclass(frozen=True)
class UnitDuty:
    unit: str
    now: list[Shift]
    next: list[Shift]


@dataclass(frozen=True)
class ShiftNotice:
    """To a duty group at a shift change: who takes over."""

    chat_id: int
    unit: str
    shift: Shift


def _digits(phone: str | None) -> str:
    return re.sub(r"\D", "", phone or "")


async def import_roster(repos: Repos, actor: str, data: bytes, filename: str, config: Config) -> Imported:
    """Check every row; store the shifts only when no row has a problem. People are linked to the users of
    their unit by phone, else by name, so escalations can mention the leader on duty."""
    try:
        rows = read_table(data, filename)
    except RosterFileError as exc:
        return Imported(problems=[Problem(0, str(exc))])
    units = {u.code: u for u in await repos.units.all()}
    shifts, problems = parse_roster(rows, units.keys(), config.tz)
    if problems:
        return Imported(problems=problems)
    now = config.clock()
    users: dict[int, list[Member]] = {}
    for user in await repos.users.list():
        if user.active:
            users.setdefault(user.unit_id, []).append(user)

    def person(unit_id: int, name: str, phone: str | None) -> dict[str, Any]:
        found = next((u for u in users.get(unit_id, []) if phone and _digits(u.phone) == _digits(phone)), None)
        found = found or next((u for u in users.get(unit_id, []) if u.name == name), None)
        return {
            "name": name,
            "phone": phone or (found.phone if found else None),
            "user_id": found.id if found else None,
        }

    rows_out = []
    for s in shifts:
        unit_id = units[s.unit].id
        start, end = s.start.astimezone(UTC), s.end.astimezone(UTC)
        rows_out.append(Shift(unit_id=unit_id, kind=s.kind, starts_at=start, ends_at=end,
                              leaders=[person(unit_id, n, p) for n, p in s.leaders],
                              officers=[person(unit_id, n, p) for n, p in s.officers],
                              notify_at=start if start > now else None, imported_at=now))  # fmt: skip
    await repos.roster.replace(rows_out)
    touched = sorted({s.unit for s in shifts})
    await repos.audit.record(actor, "roster.import", "roster", filename[:64],
                             after={"shifts": len(rows_out), "units": touched})  # fmt: skip
    upcoming = [r.notify_at for r in rows_out if r.notify_at is not None]
    if upcoming:
        wake_at(repos.session, min(upcoming))
    return Imported(len(rows_out), len(touched))


async def duty_board(repos: Repos, user: Member, now: datetime) -> list[UnitDuty]:
    """Who is on duty now and next, per unit: the person's own unit first, then the units below it."""
    tree = await repos.warnings.unit_tree()
    below = units_with_descendants(tree, [user.unit_id])
    units = sorted((u for u in await repos.units.all() if u.id in below), key=lambda u: (u.id != user.unit_id, u.id))
    units = units[:BOARD_UNITS]
    shifts = await repos.roster.current_and_next([u.id for u in units], now)
    board = []
    for unit in units:
        mine = [s for s in shifts if s.unit_id == unit.id]
        running = [s for s in mine if s.starts_at <= now < s.ends_at]
        board.append(UnitDuty(unit.name, running, [s for s in mine if s.starts_at > now]))
    return board


async def fire_shift_changes(repos: Repos, now: datetime, batch: int) -> tuple[list[ShiftNotice], bool]:
    """Shifts that have begun: their duty group is told who takes over (once; not for a shift already over)."""
    shifts = await repos.roster.claim_changes(now, batch)
    notices = []
    for shift in shifts:
        shift.notify_at = None
        if shift.ends_at <= now:
            continue
        group = await repos.groups.for_unit(shift.unit_id)
        unit = await repos.units.get(shift.unit_id)
        if group is not None and unit is not None:
            notices.append(ShiftNotice(group.chat_id, unit.name, shift))
            await repos.audit.record("system", "roster.handover_notice", "shift", shift.id,
                                     after={"unit": unit.code, "chat": group.chat_id})  # fmt: skip
    await repos.session.flush()
    return notices, len(shifts) >= batch


async def next_shift_change(repos: Repos) -> datetime | None:
    return await repos.roster.next_change_at()
