"""What the use cases share: messages as data, the unit lookups, who answers for a unit, incident cards, an alert's
delivery (filing plans it, the delivery use cases carry it out)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, tzinfo
from typing import Any

from bot.domain.access import Action, Actor, Target, permits
from bot.domain.clock import Clock, utcnow
from bot.domain.clocks import Policy, load_policy
from bot.domain.dispatch import DispatchPolicy
from bot.domain.dispatch import load_policy as load_dispatch_policy
from bot.domain.facts import casualty_figures
from bot.domain.roles import Role
from bot.domain.roster import DEFAULT_LIMITS, TableLimits
from bot.domain.warnings import WarningPolicy
from storage.models import Alert, AlertPart, Attachment, Incident, Report, Unit
from storage.models import User as Member
from storage.repositories import Repos

__all__ = [
    "AdminError",
    "AlertStatus",
    "Card",
    "Config",
    "Delivery",
    "Member",
    "Part",
    "Refused",
    "Say",
    "actor_of",
    "alert_statuses",
    "attachment_rows",
    "duty_leaders",
    "incident_card",
    "may",
    "part_of",
    "planned_delivery",
    "report_answers",
    "require_unit",
    "unit_admins",
    "unit_chain",
]


class AdminError(Exception):
    """A refused operator request; the message says why."""


class Refused(Exception):
    """A use case refuses what the person asked, before it read or changed anything on their behalf: the adapter
    answers with the catalog message `msgid` (formatted with `params`, which it escapes) and nothing else happens."""

    def __init__(self, msgid: str, **params: Any) -> None:
        super().__init__(msgid)
        self.msgid, self.params = msgid, params


DEFAULT_SUMMARY_AT = time(8, 0)


@dataclass(frozen=True)
class Config:
    """What the use cases need from the deployment's settings."""

    tz: tzinfo
    default_locale: str
    clock: Clock = utcnow
    policy: Policy = field(default_factory=load_policy)  # the statutory clocks (domain rules §4)
    warnings: WarningPolicy = field(default_factory=WarningPolicy)  # approval, receipts (domain rules §5)
    cap_sender: str = "kuaibao@localhost"  # CAP <sender> of this office's warnings
    summary_at: time | None = DEFAULT_SUMMARY_AT  # the daily summary's local time (None: no summary)
    table_limits: TableLimits = DEFAULT_LIMITS  # what an uploaded roster file may hold
    dispatch: DispatchPolicy = field(default_factory=load_dispatch_policy)  # 联动: tiers, clocks, radius


@dataclass(frozen=True)
class Card:
    """An incident as an alert shows it: plain data, rendered by the adapter in the reader's language."""

    number: str
    grade: str
    suggested_grade: str
    category: str
    subtype: str | None
    occurred_at: datetime
    place: str | None
    lat: float | None
    lon: float | None
    casualties: Mapping[str, int | None]
    loss: int | None
    description: str
    reporter_name: str
    reporter_phone: str | None
    unit_name: str
    late: bool
    initial_due_at: datetime
    acknowledged: tuple[tuple[str, datetime], ...] = ()
    kind: str = "initial"  # the report the alert is about: initial | followup
    seq: int = 0
    changes: tuple[tuple[str, int | None, int | None], ...] = ()  # (figure, before, now) of a follow-up
    correction: str | None = None  # why a figure went down
    status: str = "open"  # open | handled | closed


@dataclass(frozen=True)
class AlertStatus:
    """What became of one duty-group alert, as its reporter is told."""

    group: str  # the group's title (its id when Telegram never told us the title)
    state: str  # queued | delivered | retrying | undeliverable
    at: datetime | None = None  # when Telegram accepted it
    told: tuple[str, ...] = ()  # whom the bot told instead (the unit's administrators)
    error: str | None = None


@dataclass(frozen=True)
class Say:
    """A message to send, as data: to whom, which catalog text with which values (escaped by the caller of
    the catalog), in the recipient's language when known, and an incident card to show below it."""

    chat_id: int
    msgid: str
    params: Mapping[str, Any] = field(default_factory=dict)
    locale: str | None = None
    card: Card | None = None


async def unit_chain(repos: Repos, unit_id: int | None) -> tuple[int, ...]:
    """A unit and every unit above it, nearest first (from the process's cache of units: no read once warm)."""
    chain: list[int] = []
    current = unit_id
    while current is not None and current not in chain:
        found = await repos.unit_with_groups(current)
        if found is None:
            break
        chain.append(current)
        current = found[0].parent_id
    return tuple(chain)


def actor_of(user: Member | None, where: int | None = None) -> Actor | None:
    """The authorization table's view of a person (None for a stranger or a deactivated person)."""
    if user is None or not user.active:
        return None
    return Actor(user.id, user.unit_id, frozenset(user.roles), where)


async def may(
    repos: Repos,
    user: Member | None,
    action: Action,
    *,
    unit_id: int | None = None,
    owner_id: int | None = None,
    reached: frozenset[int] = frozenset(),
    chat_id: int | None = None,
    where: int | None = None,
) -> bool:
    """The one authorization check (bot.domain.access): may this person do this to a target of this unit (owned by
    `owner_id`, addressed to `reached`, living in `chat_id`), acting in the chat `where`?"""
    chain = await unit_chain(repos, unit_id) if unit_id is not None else ()
    return permits(action, actor_of(user, where), Target(chain, owner_id, reached, chat_id))


def attachment_rows(answers: Mapping[str, Any]) -> list[Attachment]:
    """A report's attachments as rows, in the order they were sent."""
    return [
        Attachment(position=i, kind=a["kind"], file_id=a["file_id"], file_unique_id=a["file_unique_id"])
        for i, a in enumerate(answers.get("attachments") or [])
    ]


async def require_unit(repos: Repos, code: str, what: str = "unit") -> Unit:
    unit = await repos.units.by_code(code.strip())
    if unit is None:
        raise AdminError(f"unknown {what} {code!r}")
    return unit


async def duty_leaders(repos: Repos, unit_id: int, at: datetime) -> list[Member]:
    """Who leads the unit's duty at `at`: the leaders of the roster's running shifts who are users of the bot;
    when no shift covers the moment (or names nobody registered), the users with the duty_leader role."""
    on_duty: list[Member] = []
    for shift in await repos.roster.running(unit_id, at):
        for person in shift.leaders or []:
            user = await repos.users.get(int(person["user_id"])) if person.get("user_id") else None
            if user is not None and user.active and user not in on_duty:
                on_duty.append(user)
    return on_duty or list(await repos.users.with_role(unit_id, Role.DUTY_LEADER))


async def unit_admins(repos: Repos, unit: Unit) -> list[Member]:
    """The administrators of a unit, else of its parent: who hears about a unit's delivery problems."""
    admins = list(await repos.users.with_role(unit.id, Role.ADMIN))
    if not admins and unit.parent_id is not None:
        admins = list(await repos.users.with_role(unit.parent_id, Role.ADMIN))
    return admins


def report_answers(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A report's answers as its form asked them (without the keys filing added, which start with "_")."""
    return {k: v for k, v in fields.items() if not k.startswith("_")}


async def alert_statuses(repos: Repos, report_id: int) -> list[AlertStatus]:
    """Each alert of a report: queued, delivered (when), retrying, or undeliverable and whom the bot told."""
    statuses = []
    for alert in await repos.alerts.alerts_of_report(report_id):
        group = await repos.groups.by_chat(alert.chat_id)
        title = group.title if group and group.title else str(alert.chat_id)
        if alert.next_attempt_at is None and alert.message_id is not None:
            statuses.append(AlertStatus(title, "delivered", alert.sent_at))
        elif alert.undelivered_notice_at is not None:
            unit = await repos.units.get(alert.unit_id)
            told = tuple(a.name for a in await unit_admins(repos, unit)) if unit else ()
            statuses.append(AlertStatus(title, "undeliverable", told=told, error=alert.last_error))
        elif alert.last_error:
            statuses.append(AlertStatus(title, "retrying", error=alert.last_error))
        else:
            statuses.append(AlertStatus(title, "queued"))
    return statuses


async def incident_card(
    repos: Repos,
    incident: Incident,
    alert_id: int | None = None,
    report_id: int | None = None,
    known: tuple[Member, Unit, Sequence[Report]] | None = None,
) -> Card:
    """The incident as an alert shows it: its figures now, the summary of the report the alert is about
    (the first report's, or a follow-up's with what changed), reporter and unit, who acknowledged it.
    `known`: the reporter, the unit and every report of the incident, when the caller holds them (filing)."""
    if known is not None:
        reporter, unit, reports = known
    else:
        reporter = await repos.users.get(incident.reporter_id)  # type: ignore[assignment]
        unit = await repos.units.get(incident.unit_id)  # type: ignore[assignment]
        reports = await repos.incidents.reports(incident.id)
    assert reporter is not None and unit is not None
    initial = reports[0]
    alert = await repos.alerts.alert(alert_id) if alert_id is not None else None
    if alert is not None:
        report_id = alert.report_id
    about = next((r for r in reports if r.id == report_id), initial)
    acks = await repos.alerts.acknowledgements(alert_id) if alert_id is not None else []
    key = {"followup": "situation", "final": "handling"}.get(about.kind)
    summary = about.fields.get(key) if key else about.fields.get("description") or about.fields.get("what")
    changes = tuple((str(k), b, a) for k, b, a in about.fields.get("_changes") or ())
    facts = incident.facts()
    return Card(
        number=incident.number,
        grade=incident.grade,
        suggested_grade=incident.suggested_grade,
        category=incident.category,
        subtype=incident.subtype,
        occurred_at=incident.occurred_at,
        place=facts.place.text,
        lat=facts.place.lat,
        lon=facts.place.lon,
        casualties=casualty_figures(facts.known_casualties),
        loss=facts.loss_cny,
        description=str(summary or initial.fields.get("description") or initial.fields.get("what") or ""),
        reporter_name=reporter.name,
        reporter_phone=reporter.phone,
        unit_name=unit.name,
        late=about.late,
        initial_due_at=about.due_at or incident.initial_due_at,
        acknowledged=tuple((u.name, a.at) for a, u in acks),
        kind=about.kind,
        seq=about.seq,
        changes=changes,
        correction=about.fields.get("correction") or None,
        status=incident.status,
    )


Translate = Callable[..., str]


@dataclass(frozen=True)
class Part:
    id: int
    position: int
    kind: str  # text | media
    items: tuple[tuple[str, str], ...] = ()  # media: (kind, file_id)
    first: int = 1  # the first item's number among the report's attachments
    total: int = 0


@dataclass(frozen=True)
class Delivery:
    """What is left to send of one alert, in order."""

    alert_id: int
    report_id: int
    chat_id: int
    card: Card
    parts: tuple[Part, ...]
    text_message_id: int | None  # the alert's text, when Telegram already accepted it
    title: str | None = None  # the group's title when it is known (a new alert's: nothing to learn)


def planned_delivery(alert: Alert, parts: Sequence[AlertPart], card: Card, title: str | None) -> Delivery:
    """A new alert's delivery as filing planned it: its first try needs nothing read back."""
    return Delivery(alert.id, alert.report_id, alert.chat_id, card, tuple(part_of(p) for p in parts), None, title)


def part_of(p: AlertPart) -> Part:
    if p.kind == "text":
        return Part(p.id, p.position, "text")
    items = tuple((str(k), str(f)) for k, f in p.payload["items"])
    return Part(p.id, p.position, "media", items, int(p.payload["first"]), int(p.payload["total"]))
