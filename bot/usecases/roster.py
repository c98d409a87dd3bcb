"""The duty roster (domain rules §6): import it (all or nothing, every bad row named), show who is on duty now
and next, tell each duty group who takes over at a shift change (through the lifecycle scheduler)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.domain.access import Action
from bot.domain.roster import Problem, RosterFileError, parse_roster, read_table
from bot.domain.text import N_
from bot.domain.units import units_with_descendants
from bot.usecases.common import Config, Member, duty_leaders, may, unit_admins
from bot.usecases.warnings import warning_rows
from storage.models import Handover, Shift
from storage.repositories import Repos, wake_at

BOARD_UNITS = 30  # units listed by /duty (the person's own first, then those below)
HANDOVER_GRACE = timedelta(minutes=30)  # a shift not handed over this long after its end is flagged
NEXT_SHIFT_DEFAULT = timedelta(hours=12)  # without a roster: what falls due in the next 12 hours


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


async def import_roster(
    repos: Repos, actor: str, data: bytes, filename: str, config: Config, user: Member | None = None
) -> Imported:
    """Check every row; store the shifts only when no row has a problem. People are linked to the users of
    their unit by phone, else by name, so escalations can mention the leader on duty. A person (`user`; the
    operator's CLI passes none) imports only for units they administer (their own and below): a row of any other
    unit is a problem of its own, named with its line."""
    try:
        rows = read_table(data, filename, config.table_limits)
    except RosterFileError as exc:
        return Imported(problems=[Problem(0, str(exc.args[0]), exc.params)])
    units = {u.code: u for u in await repos.units.all()}
    shifts, problems = parse_roster(rows, units.keys(), config.tz)
    if user is not None:
        for s in shifts:
            if not await may(repos, user, Action.ROSTER_IMPORT, unit_id=units[s.unit].id):
                problems.append(Problem(s.line, N_("roster.error.not_yours"), {"unit": s.unit}))
        problems.sort(key=lambda p: p.line)
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
        rows_out.append(
            Shift(
                unit_id=unit_id,
                kind=s.kind,
                starts_at=start,
                ends_at=end,
                leaders=[person(unit_id, n, p) for n, p in s.leaders],
                officers=[person(unit_id, n, p) for n, p in s.officers],
                notify_at=start if start > now else None,
                check_at=end + HANDOVER_GRACE if end + HANDOVER_GRACE > now else None,
                imported_at=now,
            )
        )
    await repos.roster.replace(rows_out)
    touched = sorted({s.unit for s in shifts})
    await repos.audit.record(
        actor, "roster.import", "roster", filename[:64], after={"shifts": len(rows_out), "units": touched}
    )
    upcoming = [t for r in rows_out for t in (r.notify_at, r.check_at) if t is not None]
    if upcoming:
        wake_at(repos.session, min(upcoming))
    return Imported(len(rows_out), len(touched))


async def duty_board(repos: Repos, user: Member, now: datetime, root: int | None = None) -> list[UnitDuty]:
    """Who is on duty now and next, per unit: the person's own unit first (in a duty group: the group's unit, which
    the caller checked), then the units below it."""
    root = user.unit_id if root is None else root
    tree = await repos.units.tree()
    below = units_with_descendants(tree, [root])
    units = sorted((u for u in await repos.units.all() if u.id in below), key=lambda u: (u.id != root, u.id))
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
            await repos.audit.record(
                "system", "roster.handover_notice", "shift", shift.id, after={"unit": unit.code, "chat": group.chat_id}
            )
    await repos.session.flush()
    return notices, len(shifts) >= batch


async def next_shift_change(repos: Repos) -> datetime | None:
    return await repos.roster.next_change_at()


@dataclass
class HandoverMade:
    """A composed handover and whom to show it to (the duty group, the incoming officers)."""

    handover: Handover
    unit: str
    author: str
    group_chat_id: int | None
    incoming: list[Member]


@dataclass(frozen=True)
class HandoverFlag:
    """A shift ended without a handover: its duty leaders are told."""

    chat_id: int
    locale: str | None
    unit: str
    start: datetime
    end: datetime


async def compose_handover(repos: Repos, user: Member, note: str, config: Config) -> HandoverMade:
    """The outgoing officer's handover, composed from the data: open incidents, what falls due during the next
    shift, overdue reports, unacknowledged alerts, active warnings; with their note. Stored, then shown."""
    now = config.clock()
    units = units_with_descendants(await repos.units.tree(), [user.unit_id])
    shift = await repos.roster.shift_near(user.unit_id, now)
    following = await repos.roster.following(shift) if shift is not None else None
    until = following.ends_at if following is not None else now + NEXT_SHIFT_DEFAULT
    open_total, open_rows = await repos.desk.open_incidents(units, None, now, 10, 0)
    due_total, due_rows = await repos.desk.due_between(units, now, until)
    overdue_total, overdue_rows = await repos.desk.overdue(units, None, now, 10, 0)
    unacked_total, unacked = await repos.desk.unacknowledged(units)
    warnings = [w for w in await warning_rows(repos, now, user) if w.state == "active"]

    def when(value: datetime) -> str:
        return value.astimezone(UTC).isoformat()

    summary = {
        "until": when(until),
        "open": {
            "total": open_total,
            "items": [
                {"number": r["number"], "grade": r["grade"], "category": r["category"], "subtype": r["subtype"]}
                for r in open_rows
            ],
        },
        "due": {
            "total": due_total,
            "items": [
                {
                    "number": r["number"],
                    "due": r["due"],
                    "seq": r["seq"],
                    "due_at": when(r["due_at"]),
                    "reporter": r["reporter"],
                }
                for r in due_rows
            ],
        },
        "overdue": {
            "total": overdue_total,
            "items": [
                {
                    "number": r["number"],
                    "due": r["due"],
                    "seq": r["seq"],
                    "due_at": when(r["due_at"]),
                    "reporter": r["reporter"],
                }
                for r in overdue_rows
            ],
        },
        "unacknowledged": {"total": unacked_total, "items": unacked},
        "warnings": [
            {"number": w.number, "level": w.level, "event": w.fields.get("event"), "drill": bool(w.fields.get("drill"))}
            for w in warnings[:10]
        ],
    }
    handover = await repos.roster.add_handover(
        Handover(
            unit_id=user.unit_id,
            shift_id=shift.id if shift else None,
            from_user_id=user.id,
            note=note.strip()[:1000] or None,
            summary=summary,
            created_at=now,
        )
    )
    await repos.audit.record(
        f"tg:{user.telegram_id}",
        "handover.create",
        "handover",
        handover.id,
        after={
            "shift": handover.shift_id,
            "open": open_total,
            "overdue": overdue_total,
            "due": due_total,
            "unacknowledged": unacked_total,
        },
    )
    incoming: list[Member] = []
    for person in [*(following.leaders or []), *(following.officers or [])] if following else []:
        found = await repos.users.get(int(person["user_id"])) if person.get("user_id") else None
        if found is not None and found.active and found.id != user.id and found not in incoming:
            incoming.append(found)
    unit = await repos.units.get(user.unit_id)
    group = await repos.groups.for_unit(user.unit_id)
    return HandoverMade(handover, unit.name if unit else "", user.name, group.chat_id if group else None, incoming)


async def accept_handover(
    repos: Repos, user: Member | None, handover_id: int, config: Config
) -> tuple[str, Handover | None]:
    """The incoming officer (duty staff of the unit or above, not the author) takes the shift over."""
    handover = await repos.roster.handover(handover_id)
    if handover is None:
        return N_("common.stale_button"), None
    if user is None or not await may(repos, user, Action.HANDOVER_ACCEPT, unit_id=handover.unit_id):
        return N_("handover.not_yours"), handover
    if handover.from_user_id == user.id:
        return N_("handover.own"), handover
    if handover.accepted_at is not None:
        return N_("handover.already"), handover
    handover.accepted_by, handover.accepted_at = user.id, config.clock()
    await repos.audit.record(
        f"tg:{user.telegram_id}", "handover.accept", "handover", handover.id, after={"by": user.name}
    )
    return N_("handover.accepted"), handover


async def fire_handover_checks(repos: Repos, now: datetime, batch: int) -> tuple[list[HandoverFlag], bool]:
    """Shifts over (30 minutes past their end) without a handover: the unit's duty leaders are told, once."""
    shifts = await repos.roster.claim_checks(now, batch)
    flags = []
    for shift in shifts:
        shift.check_at = None
        if await repos.roster.handed_over(shift.id):
            continue
        unit = await repos.units.get(shift.unit_id)
        if unit is None:
            continue
        leaders = await duty_leaders(repos, shift.unit_id, shift.ends_at - timedelta(minutes=1)) or await unit_admins(
            repos, unit
        )
        for leader in leaders:
            flags.append(HandoverFlag(leader.telegram_id, leader.locale, unit.name, shift.starts_at, shift.ends_at))
        told = [f"tg:{p.telegram_id}" for p in leaders]
        after = {"unit": unit.code, "told": told}
        await repos.audit.record("system", "handover.missing", "shift", shift.id, after=after)
    await repos.session.flush()
    return flags, len(shifts) >= batch


async def next_handover_check(repos: Repos) -> datetime | None:
    return await repos.roster.next_check_at()
