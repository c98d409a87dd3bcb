"""联动 dispatch (docs/dispatch.md): duty staff order linked units out to an incident; each unit
answers 接收 or 无法执行, then 已出发, 已到达 (its location against the incident's), the scene report and the
feedback. Every action is checked through the one authorization table (bot.domain.access): who orders (the incident
in their unit's subtree, and each linked unit too), who answers (the linked unit's own people: liaisons and duty
staff), who manages the order (the dispatching unit's subtree). What to send comes back as data; the adapter
renders it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.domain import dispatch as rules
from bot.domain.access import Action
from bot.domain.dispatch import DispatchPolicy, Move, MoveRefused, State
from bot.domain.text import N_
from bot.domain.units import units_with_descendants
from bot.usecases.common import AdminError, Config, Member, Refused, may, require_unit
from storage.models import DispatchOrder, DispatchPart, Incident, LinkedUnit, Unit
from storage.repositories import Repos

INSTRUCTION_MAX = 1000
REASON_MAX = 500
MEETING_MAX = 200


@dataclass(frozen=True)
class Candidate:
    """A linked unit the dispatcher may name in an order."""

    linked_id: int
    unit_id: int
    name: str
    kind: str
    tier: str


@dataclass(frozen=True)
class Recipient:
    """Where a linked unit's order goes: its duty group, its liaisons, and at night or on a holiday (the roster says
    who is on duty) its duty staff."""

    chat_id: int
    locale: str | None = None


@dataclass
class Ordered:
    order: DispatchOrder
    incident: Incident
    parts: list[tuple[DispatchPart, LinkedUnit, Unit]]
    recipients: dict[int, list[Recipient]] = field(default_factory=dict)  # part id -> where its order goes


@dataclass
class Responded:
    """A move done (or, for an arrival beyond the radius, waiting for the unit to confirm)."""

    part: DispatchPart
    order: DispatchOrder
    unit: Unit
    state: State
    confirm_far: bool = False  # 已到达 beyond ARRIVAL_RADIUS_M: ask the unit to confirm, nothing recorded yet
    tell_dispatcher: bool = False  # declined: the dispatcher is told at once and offered other units


# ---- linked units ------------------------------------------------------------------------------------------------
async def add_linked_unit(
    repos: Repos,
    actor: str,
    unit_code: str,
    kind: str,
    tier: str,
    policy: DispatchPolicy,
    name: str | None = None,
    parent_code: str | None = None,
) -> LinkedUnit:
    """Register a linked unit (operators: the CLI and the import). A unit of the tree is named by its code; an outside
    agency is given a unit of its own (`name`, under `parent_code`: the office that orders it out)."""
    kind, tier = kind.strip().lower(), tier.strip().lower()
    if kind not in policy.kinds:
        raise AdminError(f"unknown kind {kind!r} (kinds: {', '.join(policy.kinds)})")
    if tier not in policy.tiers:
        raise AdminError(f"unknown tier {tier!r} (tiers: {', '.join(policy.tiers)})")
    unit = await repos.units.by_code(unit_code.strip())
    if unit is None:
        if not name or not name.strip():
            raise AdminError(f"unknown unit {unit_code!r}: name one (and its parent) to make it for an outside agency")
        parent = await require_unit(repos, parent_code, "parent unit") if parent_code else None
        unit = await repos.units.add(unit_code.strip(), name.strip(), parent.id if parent else None)
        await repos.audit.record(
            actor, "unit.add", "unit", unit.id, after={"code": unit.code, "name": unit.name, "parent": parent_code}
        )
    if await repos.dispatch.linked_of_unit(unit.id) is not None:
        raise AdminError(f"unit {unit.code!r} is a linked unit already")
    linked = await repos.dispatch.add_linked(unit.id, kind, tier)
    await repos.audit.record(
        actor, "linked.add", "linked_unit", linked.id, after={"unit": unit.code, "kind": kind, "tier": tier}
    )
    return linked


async def candidates(repos: Repos, user: Member) -> list[Candidate]:
    """The active linked units this person may order out: those of their unit's subtree."""
    subtree = units_with_descendants(await repos.units.tree(), [user.unit_id])
    out = []
    for linked, unit in await repos.dispatch.linked_in(subtree):
        if await may(repos, user, Action.DISPATCH_ASSIGN, unit_id=unit.id):
            out.append(Candidate(linked.id, unit.id, unit.name, linked.kind, linked.tier))
    return out


# ---- ordering out ------------------------------------------------------------------------------------------------
async def incident_to_dispatch(repos: Repos, user: Member | None, number: str) -> Incident:
    """The incident `/dispatch KB-…` names, when this person may order units out to it."""
    incident = await repos.incidents.by_number(number.strip().upper())
    if incident is None or not await may(repos, user, Action.DISPATCH_ORDER, unit_id=incident.unit_id):
        raise Refused(N_("dispatch.no_incident"), number=number.strip()[:40])  # (the same answer: nothing to learn)
    if incident.status == "closed":
        raise Refused(N_("dispatch.incident_closed"), number=incident.number)
    return incident


async def order_out(
    repos: Repos,
    user: Member,
    incident_number: str,
    linked_ids: list[int],
    instruction: str,
    meeting_point: str | None,
    now: datetime,
    config: Config,
    policy: DispatchPolicy,
) -> Ordered:
    """Make the order: its number (LD-…), one part per linked unit, each with its arrival clock by its tier."""
    incident = await incident_to_dispatch(repos, user, incident_number)
    instruction = instruction.strip()
    if not instruction or len(instruction) > INSTRUCTION_MAX:
        raise Refused(N_("dispatch.instruction_bad"), most=INSTRUCTION_MAX)
    meeting = (meeting_point or "").strip() or None
    if meeting is not None and len(meeting) > MEETING_MAX:
        raise Refused(N_("dispatch.meeting_bad"), most=MEETING_MAX)
    if not linked_ids:
        raise Refused(N_("dispatch.no_units"))
    chosen: list[tuple[LinkedUnit, Unit]] = []
    for linked_id in dict.fromkeys(linked_ids):  # (each once, in the order picked)
        linked = await repos.dispatch.linked(linked_id)
        unit = await repos.units.get(linked.unit_id) if linked is not None else None
        if linked is None or unit is None or not linked.active:
            raise Refused(N_("dispatch.unit_gone"))
        if not await may(repos, user, Action.DISPATCH_ASSIGN, unit_id=unit.id):
            raise Refused(N_("dispatch.unit_not_allowed"), unit=unit.name)
        chosen.append((linked, unit))
    day = now.astimezone(config.tz).strftime("%Y%m%d")
    number = f"LD-{day}-{await repos.counters.next(f'LD{day[2:]}'):04d}"
    order = DispatchOrder(
        number=number,
        incident_id=incident.id,
        unit_id=user.unit_id,
        dispatcher_id=user.id,
        instruction=instruction,
        meeting_point=meeting,
        state="open",
        created_at=now,
    )
    parts = [
        DispatchPart(
            linked_unit_id=linked.id,
            state=State.DISPATCHED.value,
            tier=linked.tier,
            dispatched_at=now,
            due_at=rules.arrival_due(now, linked.tier, policy),
            next_at=now + policy.accept,  # the acceptance clock runs first
            late=False,
            resends=0,
        )
        for linked, _unit in chosen
    ]
    await repos.dispatch.add_order(order, parts)
    ordered = Ordered(order, incident, [(p, linked, unit) for p, (linked, unit) in zip(parts, chosen, strict=True)])
    for part, _linked, unit in ordered.parts:
        ordered.recipients[part.id] = await recipients(repos, unit, now)
    await repos.audit.record(
        f"tg:{user.telegram_id}",
        "dispatch.order",
        "dispatch_order",
        order.id,
        after={
            "number": number,
            "incident": incident.number,
            "units": [unit.name for _l, unit in chosen],
            "instruction": instruction,
            "meeting_point": meeting,
        },
    )
    return ordered


async def recipients(repos: Repos, unit: Unit, now: datetime) -> list[Recipient]:
    """Where an order to this unit goes: its duty group (when bound), its liaisons, and the people the roster has on
    duty now (at night and on holidays that is who answers); each chat once."""
    out: dict[int, Recipient] = {}
    group = await repos.groups.for_unit(unit.id)
    if group is not None:
        out[group.chat_id] = Recipient(group.chat_id)
    people: list[Member] = list(await repos.users.with_role(unit.id, "liaison"))
    for shift in await repos.roster.running(unit.id, now):
        for person in [*(shift.leaders or []), *(shift.officers or [])]:
            found = await repos.users.get(int(person["user_id"])) if person.get("user_id") else None
            if found is not None:
                people.append(found)
    for person in people:
        if person.active and person.telegram_id not in out:
            out[person.telegram_id] = Recipient(person.telegram_id, person.locale)
    return list(out.values())


# ---- a unit's answers --------------------------------------------------------------------------------------------
async def respond(
    repos: Repos,
    user: Member | None,
    part_id: int,
    step: Move,
    now: datetime,
    policy: DispatchPolicy,
    *,
    reason: str | None = None,
    location: tuple[float, float] | None = None,
    far_confirmed: bool = False,
    report: dict[str, str] | None = None,
) -> Responded:
    """One move of a unit's part, by one of the unit's own people: checked against the table and the part's state
    (a stale or repeated button changes nothing and says so)."""
    part = await repos.dispatch.part(part_id, lock=True)
    linked = await repos.dispatch.linked(part.linked_unit_id) if part is not None else None
    order = await repos.dispatch.order(part.order_id) if part is not None else None
    if part is None or linked is None or order is None:
        raise Refused(N_("dispatch.gone"))
    unit = await repos.units.get(linked.unit_id)
    assert unit is not None
    if user is None or not await may(repos, user, Action.DISPATCH_RESPOND, unit_id=unit.id):
        raise Refused(N_("dispatch.not_yours"), unit=unit.name)
    if order.state != "open":
        raise Refused(N_("dispatch.closed"), number=order.number)
    try:
        state = rules.move(State(part.state), step)
    except MoveRefused:
        raise Refused(N_("dispatch.already")) from None
    done = Responded(part, order, unit, state)
    if step is Move.DECLINE:
        reason = (reason or "").strip()
        if not reason or len(reason) > REASON_MAX:
            raise Refused(N_("dispatch.reason_bad"), most=REASON_MAX)
        part.declined_at, part.decline_reason, part.next_at = now, reason, None
        done.tell_dispatcher = True
    elif step is Move.ACCEPT:
        part.accepted_at = now
    elif step is Move.DEPART:
        part.accepted_at = part.accepted_at or now  # leaving at once accepts too
        part.departed_at = now
    elif step is Move.ARRIVE:
        incident = await repos.incidents.get(order.incident_id)
        distance = None
        if location is not None and incident is not None and incident.latitude is not None:
            assert incident.longitude is not None
            distance = rules.distance_m(location[0], location[1], incident.latitude, incident.longitude)
        if rules.on_scene(distance, policy) is False and not far_confirmed:
            done.confirm_far, done.state = True, State(part.state)
            return done
        part.accepted_at = part.accepted_at or now
        part.arrived_at = now
        part.arrival_latitude, part.arrival_longitude = location if location is not None else (None, None)
        part.distance_m = distance
        part.late = part.late or not rules.on_time(now, part.due_at)
    elif step is Move.SCENE_REPORT:
        part.scene_report, part.scene_reported_at = dict(report or {}), now
    elif step is Move.FEEDBACK:
        part.feedback, part.done_at = dict(report or {}), now
    part.state, part.last_actor_id = state.value, user.id
    part.next_at = next_action_at(part, policy, now)
    after: dict[str, object] = {"number": order.number, "unit": unit.name, "move": step.value, "state": state.value}
    if step is Move.DECLINE:
        after["reason"] = reason
    if step is Move.ARRIVE:
        after.update(distance_m=part.distance_m, late=part.late)
    await repos.audit.record(f"tg:{user.telegram_id}", f"dispatch.{step.value}", "dispatch_part", part.id, after=after)
    return done


def next_action_at(part: DispatchPart, policy: DispatchPolicy, now: datetime) -> datetime | None:
    """When the part's clock next acts: the acceptance (re-sent, then escalated) while unanswered; the reminders
    before the arrival deadline and 迟到 at it while on the way; the scene report owed after arriving."""
    state = State(part.state)
    if state in (State.DONE, State.DECLINED, State.WITHDRAWN):
        return None
    if state is State.DISPATCHED:
        return part.dispatched_at + policy.accept * (part.resends + 1)
    if state in rules.BEFORE_ARRIVAL:
        moments = [*rules.reminder_times(part.dispatched_at, part.due_at, policy), part.due_at]
        later = [m for m in moments if m > now]
        return min(later) if later and not part.late else None
    if state is State.ARRIVED and part.arrived_at is not None:
        owed = part.arrived_at + policy.scene_report_after
        return owed if owed > now else None
    return None
