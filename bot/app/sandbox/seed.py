"""The sandbox's office, made through the same use cases an operator's commands and an administrator's messages
use (no SQL of its own): units, linked units, people, duty groups, a roster covering now and the next shift, and a
published blue warning. The seeded office (a city with two counties, a person for every role) is data,
offices/seeded.yaml (`seeded()`); a drill may describe its own in the same format (`office_from`, docs/sandbox.md)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.domain.roles import Role
from bot.usecases.common import Config
from bot.usecases.dispatch import add_linked_unit
from bot.usecases.onboarding import add_unit, add_user, bind_group_by_code
from bot.usecases.roster import import_roster
from bot.usecases.warnings import submit_warning
from storage.uow import unit_of_work

ACTOR = "sandbox"
ROLES = frozenset(r.value for r in Role)
WARNING_FIELDS = ("event", "area", "text", "measures", "authority")


@dataclass(frozen=True)
class Person:
    telegram_id: int
    name: str
    unit: str
    roles: tuple[str, ...]
    phone: str | None = None


@dataclass(frozen=True)
class Linked:
    code: str
    name: str
    kind: str
    tier: str
    parent: str


@dataclass(frozen=True)
class Office:
    units: tuple[tuple[str, str, str | None], ...]  # code, name, parent code
    people: tuple[Person, ...]
    groups: tuple[tuple[int, str, str], ...]  # chat id, unit code, title
    linked: tuple[Linked, ...] = ()
    warning: Mapping[str, str] | None = None  # a blue warning the first publisher publishes to the whole office
    map: Mapping[str, Any] | None = None  # the page's offline map: area, places to pick, labels


class OfficeError(ValueError):
    """An office description that cannot be made: what is wrong, and where."""


def office_from(raw: Mapping[str, Any]) -> Office:
    """An office described in a drill: units, people, groups and linked units; every entry checked here, with what
    is wrong (the use cases check again when it is made)."""
    units, people, groups, linked = [], [], [], []
    codes: set[str] = set()
    for i, u in enumerate(_entries(raw, "units", required=True), 1):
        code, name = _text(u, "code", f"units {i}"), _text(u, "name", f"units {i}")
        parent = u.get("parent")
        if parent is not None and str(parent) not in codes:
            raise OfficeError(f"units {i}: parent {parent!r} is not a unit listed before it")
        codes.add(code)
        units.append((code, name, None if parent is None else str(parent)))
    for i, u in enumerate(_entries(raw, "linked"), 1):
        code = _text(u, "code", f"linked {i}")
        parent = _text(u, "parent", f"linked {i}")
        if parent not in codes:
            raise OfficeError(f"linked {i}: parent {parent!r} is not one of the units")
        codes.add(code)
        linked.append(Linked(code, _text(u, "name", f"linked {i}"), _text(u, "kind", f"linked {i}"),
                             str(u.get("tier") or "first"), parent))  # fmt: skip
    ids: set[int] = set()
    for i, p in enumerate(_entries(raw, "people"), 1):
        where = f"people {i}"
        tid = p.get("id")
        if not isinstance(tid, int) or tid <= 0 or tid in ids:
            raise OfficeError(f"{where}: id is a positive number of its own (a Telegram user id)")
        roles = p.get("roles")
        if not isinstance(roles, list) or not roles or any(r not in ROLES for r in roles):
            raise OfficeError(f"{where}: roles is a list of {', '.join(sorted(ROLES))}")
        unit = _text(p, "unit", where)
        if unit not in codes:
            raise OfficeError(f"{where}: unit {unit!r} is not one of the units")
        ids.add(tid)
        phone = p.get("phone")
        people.append(Person(tid, _text(p, "name", where), unit, tuple(roles), None if phone is None else str(phone)))
    for i, g in enumerate(_entries(raw, "groups"), 1):
        chat = g.get("id")
        if not isinstance(chat, int) or chat >= 0:
            raise OfficeError(f"groups {i}: id is a negative number (a group chat id)")
        unit = _text(g, "unit", f"groups {i}")
        if unit not in codes:
            raise OfficeError(f"groups {i}: unit {unit!r} is not one of the units")
        groups.append((chat, unit, _text(g, "title", f"groups {i}")))
    warning = raw.get("warning")
    if warning is not None and warning is not False:
        if not isinstance(warning, dict) or any(not isinstance(warning.get(k), str) for k in WARNING_FIELDS):
            raise OfficeError(f"warning: a mapping of {', '.join(WARNING_FIELDS)} (texts), or false")
        warning = {k: str(warning[k]) for k in WARNING_FIELDS}
    area = raw.get("map")
    return Office(
        tuple(units), tuple(people), tuple(groups), tuple(linked), warning or None, _map(area) if area else None
    )


def _map(raw: Any) -> dict[str, Any]:
    """south < north (latitudes), west < east (longitudes); places {name, lat, lon} and labels {text, lat, lon}."""
    problem = "map: south, north, west and east (degrees: south < north, west < east), places and labels inside"
    if not isinstance(raw, dict):
        raise OfficeError(problem)
    try:
        south, north, west, east = (float(raw[k]) for k in ("south", "north", "west", "east"))
    except (KeyError, TypeError, ValueError):
        raise OfficeError(problem) from None
    if not (-90 <= south < north <= 90 and -180 <= west < east <= 180):
        raise OfficeError(problem)
    area: dict[str, Any] = {"south": south, "north": north, "west": west, "east": east}
    for key, name in (("places", "name"), ("labels", "text")):
        entries = raw.get(key) or []
        if not isinstance(entries, list):
            raise OfficeError(problem)
        area[key] = []
        for e in entries:
            try:
                lat, lon, text = float(e["lat"]), float(e["lon"]), str(e[name]).strip()
            except (KeyError, TypeError, ValueError):
                raise OfficeError(f"map: each of {key} is {{{name}, lat, lon}}") from None
            if not (text and south <= lat <= north and west <= lon <= east):
                raise OfficeError(f"map: {text or '?'} lies outside the map's area")
            area[key].append({name: text, "lat": lat, "lon": lon})
    return area


def load_office(path: Path) -> Office:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise OfficeError(f"{path}: an office is a mapping of units, people, groups")
    return office_from(raw)


def _entries(raw: Mapping[str, Any], key: str, required: bool = False) -> list[Mapping[str, Any]]:
    found = raw.get(key) or []
    if not isinstance(found, list) or (required and not found) or not all(isinstance(e, dict) for e in found):
        raise OfficeError(f"office: {key} is a list of mappings" + (" (at least one)" if required else ""))
    return found


def _text(entry: Mapping[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str | int) or not str(value).strip():
        raise OfficeError(f"{where}: {key} is missing")
    return str(value).strip()


def roster_csv(office: Office, now: datetime, config: Config) -> bytes | None:
    """This shift (08:00 to 08:00, local) and the next, for every unit with duty officers or leaders: the first of
    each on now, the second (or the first again) on the next."""
    local = now.astimezone(config.tz)
    start = local.replace(hour=8, minute=0, second=0, microsecond=0)
    if local < start:
        start -= timedelta(days=1)
    shifts = ((start, start + timedelta(days=1)), (start + timedelta(days=1), start + timedelta(days=2)))
    fmt = "%Y-%m-%d %H:%M"
    rows = ["单位,开始,结束,角色,姓名,电话"]
    for code, _name, _parent in office.units:
        for role, label in (("duty_officer", "值班员"), ("duty_leader", "带班领导")):
            staff = [p for p in office.people if p.unit == code and role in p.roles]
            for n, (a, b) in enumerate(shifts):
                if staff:
                    p = staff[n % len(staff)]
                    rows.append(f"{code},{a:{fmt}},{b:{fmt}},{label},{p.name},{p.phone or ''}")
    return ("\n".join(rows) + "\n").encode() if len(rows) > 1 else None


def blue_warning(texts: Mapping[str, str], unit_id: int, now: datetime) -> dict[str, object]:
    """The answers of the warning form for a meteorological blue warning of a day, to `unit_id` and below."""
    return {
        **texts,
        "category": "natural",
        "subtype": "meteorological",
        "level": "blue",
        "onset": now.isoformat(),
        "expires": (now + timedelta(hours=24)).isoformat(),
        "drill": "no",
        "units": {"selected": [str(unit_id)]},
        "subunits": "yes",
        "roles": {"selected": []},
        "groups": "yes",
    }


async def seed_office(sessionmaker: async_sessionmaker[AsyncSession], config: Config, office: Office) -> None:
    """Make the office (an empty database only: the caller checks)."""
    now = config.clock()
    async with unit_of_work(sessionmaker) as repos:
        units = {code: await add_unit(repos, ACTOR, code, name, parent) for code, name, parent in office.units}
        for li in office.linked:
            await add_linked_unit(repos, ACTOR, li.code, li.kind, li.tier, config.dispatch, li.name, li.parent)
        for p in office.people:
            await add_user(repos, ACTOR, p.telegram_id, p.name, p.unit, list(p.roles), p.phone)
        for chat_id, unit, title in office.groups:
            await bind_group_by_code(repos, ACTOR, chat_id, unit, title)
    roster = roster_csv(office, now, config)
    if roster is not None:
        async with unit_of_work(sessionmaker) as repos:
            imported = await import_roster(repos, ACTOR, roster, "roster.csv", config)
            if imported.problems:
                raise OfficeError(f"the office's roster was refused: {imported.problems}")
    publisher = next((p for p in office.people if "publisher" in p.roles), None)
    root = next((code for code, _name, parent in office.units if parent is None), None)
    if office.warning is not None and publisher is not None and root is not None:
        async with unit_of_work(sessionmaker) as repos:
            user = await repos.users.by_telegram_id(publisher.telegram_id)
            assert user is not None
            draft = {"token": secrets.token_hex(8), "answers": blue_warning(office.warning, units[root].id, now)}
            await submit_warning(repos, user, draft, {}, config)


SEEDED_FILE = Path(__file__).with_name("offices") / "seeded.yaml"


def seeded() -> Office:
    return load_office(SEEDED_FILE)
