"""What the scheduler does when a clock comes due: remind the reporter before each deadline and at it, mark
the report 迟报 and tell the unit's duty group, a step later the parent unit's, and record 漏报 when it was
never filed; send again an alert nobody acknowledged, mentioning the duty leaders, then to the parent unit.

One call claims what is due (locked rows: another scheduler skips them), advances each row past what it
did, and returns the messages as data, grouped so nobody gets a pile: one reminder per reporter listing
everything due from them, one notice per group. The caller stores those messages in the same transaction
(the durable outbox), so each effect happens once."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.domain import clocks
from bot.usecases.common import Card, Config, Member, duty_leaders, incident_card, unit_admins
from bot.usecases.deadlines import as_domain, facts_of
from storage.models import Alert, Deadline, Incident, Unit
from storage.repositories import Repos

CLAIM_BATCH = 1000  # rows per transaction (one notice per chat for them); more due: the loop claims again


@dataclass(frozen=True)
class DueItem:
    """One report due, as a reminder or a notice lists it."""

    deadline_id: int
    incident_id: int
    number: str
    due: str  # initial | written | followup | final | supplementary | evaluation
    seq: int
    due_at: datetime
    reporter: str
    unit: str


@dataclass
class Notice:
    """One message to one chat: a reminder to a reporter (kind remind), a 迟报 notice (overdue) or a 漏报
    record (missed) to a duty group or administrators, or an unacknowledged alert sent again (unacknowledged,
    with its card and the duty leaders to mention)."""

    chat_id: int
    kind: str
    locale: str | None = None
    items: list[DueItem] = field(default_factory=list)
    mention: list[tuple[int, str]] = field(default_factory=list)  # (telegram id, name)
    card: Card | None = None
    alert_id: int | None = None
    unit: str = ""  # the unit whose alert it is, when told to the unit above it


@dataclass
class Fired:
    notices: list[Notice] = field(default_factory=list)
    deadlines: int = 0  # rows acted on
    alerts: int = 0
    more: bool = False  # the batch was full: call again


class _Notices:
    """Notices by (chat, kind, alert), in the order they were first needed."""

    def __init__(self) -> None:
        self.by_key: dict[tuple[int, str, int | None], Notice] = {}

    def get(self, chat_id: int, kind: str, locale: str | None = None, alert_id: int | None = None) -> Notice:
        key = (chat_id, kind, alert_id)
        if key not in self.by_key:
            self.by_key[key] = Notice(chat_id, kind, locale, alert_id=alert_id)
        return self.by_key[key]

    def add(self, chat_id: int, kind: str, item: DueItem, locale: str | None = None) -> None:
        notice = self.get(chat_id, kind, locale)
        if all(i.deadline_id != item.deadline_id for i in notice.items):
            notice.items.append(item)


class _Lookups:
    """Units, people, groups and incidents a batch needs, each read once."""

    def __init__(self, repos: Repos, now: datetime) -> None:
        self.repos, self.now = repos, now
        self.units: dict[int, Unit | None] = {}
        self.users: dict[int, Member | None] = {}
        self.incidents: dict[int, Incident | None] = {}

    async def unit(self, unit_id: int | None) -> Unit | None:
        if unit_id is None:
            return None
        if unit_id not in self.units:
            self.units[unit_id] = await self.repos.units.get(unit_id)
        return self.units[unit_id]

    async def user(self, user_id: int) -> Member | None:
        if user_id not in self.users:
            self.users[user_id] = await self.repos.users.get(user_id)
        return self.users[user_id]

    async def incident(self, incident_id: int) -> Incident | None:
        if incident_id not in self.incidents:
            self.incidents[incident_id] = await self.repos.incidents.get(incident_id)
        return self.incidents[incident_id]


async def _tell(
    repos: Repos, look: _Lookups, notices: _Notices, unit: Unit | None, audience: str, kind: str, item: DueItem
) -> list[str]:
    """Tell one audience about a deadline; returns who was told (for the audit log). A unit without a duty
    group has its administrators told instead, so no escalation is lost."""
    if audience == "parent_group":
        unit = await look.unit(unit.parent_id) if unit else None
    if unit is None:
        return []
    if audience in ("unit_group", "parent_group", "duty_leaders"):
        group = await repos.groups.for_unit(unit.id)
        if group is not None:
            notice = notices.get(group.chat_id, kind)
            if all(i.deadline_id != item.deadline_id for i in notice.items):
                notice.items.append(item)
            if audience == "duty_leaders":
                for leader in await duty_leaders(repos, unit.id, look.now):
                    if (leader.telegram_id, leader.name) not in notice.mention:
                        notice.mention.append((leader.telegram_id, leader.name))
            return [f"group:{group.chat_id}"]
        people = await duty_leaders(repos, unit.id, look.now) if audience == "duty_leaders" else []
        people = people or await unit_admins(repos, unit)
    else:  # unit_admins
        people = await unit_admins(repos, unit)
    for person in people:
        notices.add(person.telegram_id, kind, item, person.locale)
    return [f"tg:{p.telegram_id}" for p in people]


async def _fire_deadline(
    repos: Repos, look: _Lookups, notices: _Notices, row: Deadline, config: Config, now: datetime
) -> None:
    deadline = as_domain(row)
    plan = clocks.plan(deadline, config.policy)
    actions = [a for a in plan if a.at <= now and (row.done_until is None or a.at > row.done_until)]
    incident = await look.incident(row.incident_id)
    unit = await look.unit(row.unit_id)
    reporter = await look.user(row.reporter_id)
    if incident is None or unit is None or reporter is None:
        row.next_at = None
        return
    item = DueItem(row.id, incident.id, incident.number, row.due, row.seq, row.due_at, reporter.name, unit.name)
    if any(a.kind == "remind" for a in actions) and reporter.active:
        # one reminder however many came due (a restart after a long stop): the latest says it best
        notices.add(reporter.telegram_id, "remind", item, reporter.locale)
        final = any(a.kind == "remind" and a.final for a in actions)
        await repos.audit.record(
            "system",
            "deadline.remind",
            "deadline",
            row.id,
            after={
                "number": incident.number,
                "due": row.due,
                "to": reporter.telegram_id,
                "at_deadline": final,
                "overdue": now > row.due_at,
            },
        )
    if now >= row.due_at and not row.late:
        row.late = True
        await repos.audit.record(
            "system",
            "deadline.late",
            "deadline",
            row.id,
            after={"number": incident.number, "due": row.due, "due_at": row.due_at.isoformat()},
        )
    for action in actions:
        if action.kind == "escalate":
            told = []
            for audience in action.tell:
                told += await _tell(repos, look, notices, unit, audience, "overdue", item)
            await repos.audit.record(
                "system",
                "deadline.escalate",
                "deadline",
                row.id,
                after={
                    "number": incident.number,
                    "due": row.due,
                    "step": action.index,
                    "tell": list(action.tell),
                    "told": told,
                },
            )
    if any(a.kind == "missed" for a in actions):
        row.state = "missed"
        told = await _tell(repos, look, notices, unit, "unit_group", "missed", item)
        await repos.audit.record(
            "system",
            "deadline.missed",
            "deadline",
            row.id,
            after={"number": incident.number, "due": row.due, "due_at": row.due_at.isoformat(), "told": told},
        )
        row.next_at = None
    else:  # the next action, or the deadline itself (marked 迟报 then, whatever the table's reminders)
        moments = [a.at for a in plan if a.at > now] + ([row.due_at] if row.due_at > now else [])
        row.next_at = min(moments, default=None)
    row.done_until = now


async def _fire_alert(
    repos: Repos, look: _Lookups, notices: _Notices, alert: Alert, config: Config, now: datetime
) -> None:
    """One step of an unacknowledged alert's escalation (the steps' times run from its delivery)."""
    incident = await look.incident(alert.incident_id)
    unit = await look.unit(alert.unit_id)
    if incident is None or unit is None or await repos.alerts.acknowledgements(alert.id):
        alert.ack_due_at = None
        return
    if alert.sent_at is None:  # not in the group yet (its delivery is being retried): look again soon
        alert.ack_due_at = now + timedelta(minutes=1)
        return
    steps = clocks.ack_steps(facts_of(incident), config.policy, config.tz, alert.sent_at)
    if alert.ack_steps >= len(steps):  # every step taken, or the grade no longer asks for it
        alert.ack_due_at = None
        return
    if steps[alert.ack_steps].at > now:
        alert.ack_due_at = steps[alert.ack_steps].at
        return
    card = await incident_card(repos, incident, alert.id)
    while alert.ack_steps < len(steps) and steps[alert.ack_steps].at <= now:  # after a stop: every step due
        await _ack_step(repos, look, notices, alert, unit, card, steps[alert.ack_steps], incident.number)
        alert.ack_steps += 1
    alert.ack_due_at = steps[alert.ack_steps].at if alert.ack_steps < len(steps) else None


async def _ack_step(
    repos: Repos,
    look: _Lookups,
    notices: _Notices,
    alert: Alert,
    unit: Unit,
    card: Card,
    step: clocks.Action,
    number: str,
) -> None:
    told: list[str] = []
    for audience in step.tell:
        target = await look.unit(unit.parent_id) if audience == "parent_group" else unit
        if target is None:
            continue
        group = await repos.groups.for_unit(target.id)
        if audience == "duty_leaders":
            leaders = await duty_leaders(repos, target.id, look.now)
            if group is not None:
                notice = notices.get(group.chat_id, "unacknowledged", alert_id=alert.id)
                notice.mention += [(p.telegram_id, p.name) for p in leaders]
                continue
            people = list(leaders)
        else:
            people = [] if group is not None and audience != "unit_admins" else await unit_admins(repos, target)
        if not people and group is not None:
            notice = notices.get(group.chat_id, "unacknowledged", alert_id=alert.id)
            notice.card, notice.unit = card, unit.name if target is not unit else ""
            told.append(f"group:{group.chat_id}")
        for person in people:
            n = notices.get(person.telegram_id, "unacknowledged", person.locale, alert.id)
            n.card, n.unit = card, unit.name if target is not unit else ""
            told.append(f"tg:{person.telegram_id}")
    await repos.audit.record(
        "system",
        "alert.escalate",
        "alert",
        alert.id,
        after={"number": number, "step": step.index, "tell": list(step.tell), "told": told},
    )


async def fire_due(repos: Repos, now: datetime, config: Config, batch: int = CLAIM_BATCH) -> Fired:
    """Claim what is due by `now`, act on it once, and say what to send."""
    look, notices = _Lookups(repos, now), _Notices()
    rows = await repos.deadlines.claim_due(now, batch)
    for row in rows:
        await _fire_deadline(repos, look, notices, row, config, now)
    alerts = await repos.deadlines.claim_unacknowledged(now, batch)
    for alert in alerts:
        await _fire_alert(repos, look, notices, alert, config, now)
    out = [n for n in notices.by_key.values() if n.items or n.card is not None]
    for n in out:
        n.items.sort(key=lambda i: (i.due_at, i.deadline_id))
    await repos.session.flush()
    return Fired(out, len(rows), len(alerts), more=len(rows) >= batch or len(alerts) >= batch)


async def next_due(repos: Repos) -> datetime | None:
    """When the scheduler next has something to do."""
    times = [t for t in (await repos.deadlines.next_at(), await repos.deadlines.next_ack_at()) if t is not None]
    return min(times) if times else None
