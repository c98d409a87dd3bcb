"""The duty desk's quick status queries (domain rules §4, §6): /status, /overdue, /mine, /incident.

Visibility follows the unit tree: duty staff, publishers and administrators see their unit and every unit below
it; a person who only reports sees their own incidents; a sibling unit sees nothing of another's."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.domain.access import Action
from bot.domain.clock import FIRST_DAY, LAST_DAY, supported
from bot.domain.facts import casualty_figures
from bot.domain.stats import DAY_WORDS
from bot.domain.text import N_
from bot.domain.units import units_with_descendants
from bot.usecases.common import Config, Member, Refused, may
from bot.usecases.warnings import warning_rows
from storage.repositories import Repos

PAGE = 10  # rows per page of a list
MAX_PAGE = 100_000  # the last page a list is asked for
# timeline entries from the audit log: action -> catalog id
TIMELINE_ACTIONS = {
    "deadline.remind": N_("timeline.remind"),
    "deadline.late": N_("timeline.late"),
    "deadline.escalate": N_("timeline.escalate"),
    "deadline.missed": N_("timeline.missed"),
    "alert.escalate": N_("timeline.alert_escalate"),
    "incident.handled": N_("timeline.handled"),
    "incident.reopen": N_("timeline.reopen"),
    "incident.regrade": N_("timeline.regrade"),
}


async def dispatch_events(repos: Repos, incident_id: int) -> list[tuple[datetime, str, dict[str, Any]]]:
    """The incident's 联动 orders in its timeline: each order, and each unit's answers with their times."""
    events: list[tuple[datetime, str, dict[str, Any]]] = []
    for order in await repos.dispatch.orders_of_incident(incident_id):
        names = []
        for part in await repos.dispatch.parts_of(order.id):
            linked = await repos.dispatch.linked(part.linked_unit_id)
            unit = await repos.units.get(linked.unit_id) if linked is not None else None
            name = unit.name if unit else "?"
            names.append(name)
            for at, msgid in (
                (part.accepted_at, N_("timeline.dispatch_accepted")),
                (part.declined_at, N_("timeline.dispatch_declined")),
                (part.arrived_at, N_("timeline.dispatch_arrived")),
                (part.scene_reported_at, N_("timeline.dispatch_scene")),
                (part.done_at, N_("timeline.dispatch_done")),
            ):
                if at is not None:
                    values: dict[str, Any] = {"order": order.number, "unit": name, "reason": part.decline_reason or ""}
                    values["late"] = part.late and msgid == "timeline.dispatch_arrived"
                    events.append((at, msgid, values))
        events.append((order.created_at, N_("timeline.dispatch"), {"order": order.number, "units": names}))
    return events


@dataclass(frozen=True)
class Page:
    kind: str  # status | overdue | mine
    page: int
    pages: int
    total: int
    rows: list[dict[str, Any]]
    due: list[dict[str, Any]] = field(default_factory=list)  # /mine: what is due from this person


@dataclass(frozen=True)
class Timeline:
    incident: dict[str, Any]
    events: list[tuple[datetime, str, dict[str, Any]]]  # (when, catalog id, values), oldest first
    due: list[dict[str, Any]]  # open deadlines


async def scope_of(repos: Repos, user: Member, root: int | None = None) -> tuple[set[int] | None, int | None]:
    """(units whose incidents this person sees, or None; only this reporter's own, or None). `root`: the unit a
    duty group shows (the caller checked that the person may see it); else the person's own unit."""
    root = user.unit_id if root is None else root
    if await may(repos, user, Action.INCIDENT_VIEW, unit_id=root):  # the incidents of that unit and below
        return units_with_descendants(await repos.units.tree(), [root]), None
    return None, user.id  # their own reports only


def _pages(total: int) -> int:
    return max(1, -(-total // PAGE))


async def status(repos: Repos, user: Member, now: datetime, page: int = 0, root: int | None = None) -> Page:
    """Open incidents of my unit and below (a reporter: their own), most urgent first."""
    units, reporter = await scope_of(repos, user, root)
    total, rows = await repos.desk.open_incidents(units, reporter, now, PAGE, max(0, page) * PAGE)
    return Page("status", max(0, page), _pages(total), total, rows)


async def overdue(repos: Repos, user: Member, now: datetime, page: int = 0, root: int | None = None) -> Page:
    """Reports past their deadline and still not filed, oldest first."""
    units, reporter = await scope_of(repos, user, root)
    total, rows = await repos.desk.overdue(units, reporter, now, PAGE, max(0, page) * PAGE)
    return Page("overdue", max(0, page), _pages(total), total, rows)


async def mine(repos: Repos, user: Member, now: datetime, page: int = 0) -> Page:
    """A reporter's open incidents, and every report due from them."""
    total, rows = await repos.desk.open_incidents(None, user.id, now, PAGE, max(0, page) * PAGE)
    due = []
    for d in await repos.deadlines.open_for_reporter(user.id):
        incident = await repos.incidents.get(d.incident_id)
        due.append(
            {
                "number": incident.number if incident else "?",
                "due": d.due,
                "seq": d.seq,
                "due_at": d.due_at,
                "incident_id": d.incident_id,
            }
        )
    return Page("mine", max(0, page), _pages(total), total, rows, due)


async def timeline(repos: Repos, user: Member, number: str, root: int | None = None) -> Timeline:
    """An incident's timeline: reports, acknowledgements, reminders, escalations; its figures now. Refused when
    there is no such incident, or it is not this person's to see (the same answer: no leak)."""
    incident = await repos.incidents.by_number(number.strip().upper())
    units, reporter = await scope_of(repos, user, root)
    outside = incident is not None and units is not None and incident.unit_id not in units
    if incident is None or outside or (reporter is not None and incident.reporter_id != reporter):
        raise Refused(N_("desk.no_incident"), number=number.strip()[:40])
    unit = await repos.units.get(incident.unit_id)
    events: list[tuple[datetime, str, dict[str, Any]]] = []
    for report, name in await repos.desk.reports_of(incident.id):
        events.append(
            (
                report.submitted_at,
                N_("timeline.report"),
                {"kind": report.kind, "seq": report.seq, "who": name, "late": report.late},
            )
        )
    for at, name, unit_name in await repos.desk.acknowledgements_of(incident.id):
        events.append((at, N_("timeline.ack"), {"who": name, "unit": unit_name}))
    deadlines = await repos.deadlines.of_incident(incident.id)
    alert_ids = await repos.desk.alert_ids(incident.id)
    for entry in await repos.desk.audit_of(incident.id, [d.id for d in deadlines], alert_ids):
        msgid = TIMELINE_ACTIONS.get(entry.action)
        if msgid is not None:
            by_id = {d.id: d for d in deadlines}
            d = by_id.get(int(entry.entity_id)) if entry.entity == "deadline" and entry.entity_id.isdigit() else None
            values = dict(entry.after or {})
            if d is not None:
                values.update(due=d.due, seq=d.seq)
            events.append((entry.at, msgid, values))
    events += await dispatch_events(repos, incident.id)
    events.sort(key=lambda e: e[0])
    facts = incident.facts()
    info = {
        "number": incident.number,
        "grade": incident.grade,
        "suggested": incident.suggested_grade,
        "category": incident.category,
        "subtype": incident.subtype,
        "place": facts.place.text,
        "occurred_at": incident.occurred_at,
        "status": incident.status,
        "unit": unit.name if unit else "",
        **casualty_figures(facts.known_casualties),
        "loss": facts.loss_cny,
    }
    due = [{"due": d.due, "seq": d.seq, "due_at": d.due_at} for d in deadlines if d.state == "open"]
    return Timeline(info, events, due)


@dataclass(frozen=True)
class Ledger:
    day: str  # YYYY-MM-DD, local
    rows: list[dict[str, Any]]


def ledger_day(arg: str, now: datetime, tz: Any) -> datetime | None:
    """today (default), yesterday or YYYY-MM-DD, as local midnight; None when unreadable."""
    arg = arg.strip().lower()
    today = now.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
    if arg in DAY_WORDS:
        return today - timedelta(days=DAY_WORDS[arg])
    try:
        day = datetime.strptime(arg, "%Y-%m-%d").replace(tzinfo=tz)
    except ValueError:
        return None
    if not supported(day):
        raise Refused(N_("common.date_out_of_range"), day=arg, first=FIRST_DAY, last=LAST_DAY)
    return day


async def ledger(repos: Repos, user: Member, day: datetime) -> Ledger:
    """The duty ledger (值班台账) of one local day: every report received, with the time received, who filed
    it, and who acknowledged its alert first (for a phone report, the officer who logged it filed it)."""
    units, _own = await scope_of(repos, user)
    start = day.astimezone(UTC)
    rows = await repos.desk.ledger(units or set(), start, start + timedelta(days=1))  # duty staff only
    return Ledger(day.strftime("%Y-%m-%d"), rows)


# ---- the daily summary (值班日报) -----------------------------------------------------------------------
SUMMARY_WINDOW = timedelta(hours=12)  # a summary the bot could not post by then (it was down) is skipped


@dataclass(frozen=True)
class DailySummary:
    """One duty group's summary of yesterday (its unit and the units below): incidents registered (by grade),
    reports received, alerts delivered and acknowledged, warnings issued; and now: open incidents, overdue
    reports, unacknowledged alerts, active warnings."""

    chat_id: int
    unit: str
    day: str  # yesterday, YYYY-MM-DD local
    figures: dict[str, Any]


def summary_moment(now: datetime, config: Config) -> datetime | None:
    """Today's local summary time (None when the summary is off)."""
    if config.summary_at is None:
        return None
    local = now.astimezone(config.tz)
    return datetime.combine(local.date(), config.summary_at, tzinfo=config.tz)


async def fire_daily_summaries(repos: Repos, now: datetime, config: Config) -> list[DailySummary]:
    """At the summary time, once per local day (recorded in the same transaction as the messages' outbox rows,
    so a restart or a second process never posts it twice): one summary per bound duty group."""
    moment = summary_moment(now, config)
    if moment is None or not moment <= now < moment + SUMMARY_WINDOW:
        return []
    today = moment.replace(hour=0, minute=0)
    day = (today - timedelta(days=1)).strftime("%Y-%m-%d")
    if await repos.desk.summary_sent(day):
        return []
    groups = await repos.groups.all()
    if not await repos.desk.claim_summary(day, len(groups), now):
        return []
    all_units = await repos.units.all()
    tree = [(u.id, u.parent_id) for u in all_units]
    names = {u.id: u.name for u in all_units}
    start, end = (today - timedelta(days=1)).astimezone(UTC), today.astimezone(UTC)
    active = [w for w in await warning_rows(repos, now, None) if w.state == "active"]
    out = []
    for group in groups:
        units = units_with_descendants(tree, [group.unit_id])
        figures = await repos.desk.day_figures(units, start, end)
        figures["open"], _rows = await repos.desk.open_incidents(units, None, now, 0, 0)
        figures["overdue"], _rows = await repos.desk.overdue(units, None, now, 0, 0)
        figures["unacknowledged"], _numbers = await repos.desk.unacknowledged(units, 0)
        # the warnings the group's unit may see: issued by it or below, or addressed to it (bot.domain.access)
        figures["active_warnings"] = sum(1 for w in active if w.unit_id in units or group.unit_id in w.reached)
        figures["dispatch"] = day_dispatch(await repos.dispatch.parts_ordered_by(units, start, end))
        out.append(DailySummary(group.chat_id, names.get(group.unit_id, ""), day, figures))
    await repos.audit.record("system", "summary.post", "day", day, after={"groups": len(groups)})
    return out


def day_dispatch(parts: Sequence[tuple[Any, str]]) -> dict[str, int]:
    """The day's 联动 orders in a summary: units ordered out, arrived, arrived late, declined."""
    return {
        "units": len(parts),
        "arrived": sum(1 for p, _name in parts if p.arrived_at is not None),
        "late": sum(1 for p, _name in parts if p.late),
        "declined": sum(1 for p, _name in parts if p.state == "declined"),
    }


async def next_daily_summary(repos: Repos, now: datetime, config: Config) -> datetime | None:
    """When the scheduler should look next for the summary: today's time, or tomorrow's once today's is out."""
    moment = summary_moment(now, config)
    if moment is None:
        return None
    if now < moment:
        return moment
    day = (moment.replace(hour=0, minute=0) - timedelta(days=1)).strftime("%Y-%m-%d")
    if now < moment + SUMMARY_WINDOW and not await repos.desk.summary_sent(day):
        return now
    return datetime.combine(moment.date() + timedelta(days=1), config.summary_at or moment.time(), tzinfo=config.tz)
