"""联动 dispatch (docs/dispatch.md): duty staff order linked units out to an incident; each unit
answers 接收 or 无法执行, then 已出发, 已到达 (its location against the incident's), the scene report and the
feedback. Every action is checked through the one authorization table (bot.domain.access): who orders (the incident
in their unit's subtree, and each linked unit too), who answers (the linked unit's own people: liaisons and duty
staff), who manages the order (the dispatching unit's subtree). What to send comes back as data; the adapter
renders it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from bot.domain import dispatch as rules
from bot.domain.access import Action
from bot.domain.dispatch import DispatchPolicy, Move, MoveRefused, State
from bot.domain.text import N_
from bot.domain.units import units_with_descendants
from bot.usecases.common import AdminError, Config, Member, Refused, duty_leaders, may
from storage.models import DispatchOrder, DispatchPart, Incident, LinkedUnit, Unit
from storage.repositories import Repos, wake_at

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


class LinkedError(AdminError):
    """A linked unit refused: English for the operator's CLI (str), a catalog id and values for the chat."""

    def __init__(self, text: str, msgid: str, **params: Any) -> None:
        super().__init__(text)
        self.msgid, self.params = msgid, params


# ---- linked units ------------------------------------------------------------------------------------------------
async def check_linked_unit(
    repos: Repos,
    unit_code: str,
    kind: str,
    tier: str,
    policy: DispatchPolicy,
    name: str | None = None,
    parent_code: str | None = None,
) -> tuple[Unit | None, Unit | None]:
    """What add_linked_unit would refuse, refused before anything is written (LinkedError); the unit (None: one to
    make for an outside agency) and the parent it would go under."""
    kind, tier = kind.strip().lower(), tier.strip().lower()
    if kind not in policy.kinds:
        kinds = ", ".join(policy.kinds)
        raise LinkedError(f"unknown kind {kind!r} (kinds: {kinds})", N_("linked.err.kind"), kind=kind, kinds=kinds)
    if tier not in policy.tiers:
        tiers = ", ".join(policy.tiers)
        raise LinkedError(f"unknown tier {tier!r} (tiers: {tiers})", N_("linked.err.tier"), tier=tier, tiers=tiers)
    unit = await repos.units.by_code(unit_code.strip())
    parent = None
    if unit is None:
        if not name or not name.strip():
            text = f"unknown unit {unit_code!r}: name one (and its parent) to make it for an outside agency"
            raise LinkedError(text, N_("linked.unknown_unit"), code=unit_code)
        parent = await repos.units.by_code(parent_code.strip()) if parent_code else None
        if parent_code and parent is None:
            raise LinkedError(f"unknown parent unit {parent_code!r}", N_("linked.err.parent"), code=parent_code)
    elif await repos.dispatch.linked_of_unit(unit.id) is not None:
        raise LinkedError(f"unit {unit.code!r} is a linked unit already", N_("linked.err.already"), code=unit.code)
    return unit, parent


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
    unit, parent = await check_linked_unit(repos, unit_code, kind, tier, policy, name, parent_code)
    if unit is None:
        assert name is not None
        unit = await repos.units.add(unit_code.strip(), name.strip(), parent.id if parent else None)
        await repos.audit.record(
            actor, "unit.add", "unit", unit.id, after={"code": unit.code, "name": unit.name, "parent": parent_code}
        )
    kind, tier = kind.strip().lower(), tier.strip().lower()
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
    into: int | None = None,
) -> Ordered:
    """Make the order: its number (LD-…), one part per linked unit, each with its arrival clock by its tier. `into`:
    add units to this open order instead (its instruction and meeting point become the ones given)."""
    incident = await incident_to_dispatch(repos, user, incident_number)
    existing = await repos.dispatch.order(into) if into is not None else None
    if into is not None:
        if existing is None or existing.incident_id != incident.id:
            raise Refused(N_("dispatch.gone"))
        if not await may(repos, user, Action.DISPATCH_MANAGE, unit_id=existing.unit_id):
            raise Refused(N_("dispatch.gone"))
        if existing.state != "open":
            raise Refused(N_("dispatch.closed"), number=existing.number)
        already = {p.linked_unit_id for p in await repos.dispatch.parts_of(existing.id)}
        linked_ids = [i for i in linked_ids if i not in already]
        if not linked_ids:
            raise Refused(N_("dispatch.nothing_new"), number=existing.number)
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
    if existing is not None:
        order, number = existing, existing.number
        order.instruction, order.meeting_point = instruction, meeting
    else:
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
    if existing is None:
        group = await repos.groups.for_unit(user.unit_id)
        if group is not None:  # the live board: drawn at once in the dispatching duty group
            order.board_chat_id, order.board_due_at = group.chat_id, now
        await repos.dispatch.add_order(order, parts)
    else:
        await repos.dispatch.add_parts(order, parts)
        mark_board(order, now)
    for part in parts:
        wake_at(repos.session, part.next_at)  # the scheduler: the acceptance clock
    repos.session.info["board"] = True  # the board keeper: draw it now
    ordered = Ordered(order, incident, [(p, linked, unit) for p, (linked, unit) in zip(parts, chosen, strict=True)])
    for part, _linked, unit in ordered.parts:
        ordered.recipients[part.id] = await recipients(repos, unit, now)
    await repos.audit.record(
        f"tg:{user.telegram_id}",
        "dispatch.add" if existing is not None else "dispatch.order",
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
    wake_at(repos.session, part.next_at)
    mark_board(order, now)
    repos.session.info["board"] = True
    after: dict[str, object] = {"number": order.number, "unit": unit.name, "move": step.value, "state": state.value}
    if step is Move.DECLINE:
        after["reason"] = reason
    if step is Move.ARRIVE:
        after.update(distance_m=part.distance_m, late=part.late)
    await repos.audit.record(f"tg:{user.telegram_id}", f"dispatch.{step.value}", "dispatch_part", part.id, after=after)
    return done


def next_action_at(part: DispatchPart, policy: DispatchPolicy, now: datetime) -> datetime | None:
    """When the part's clock next acts (bot.domain.dispatch.clock_actions), after `now`."""
    later = [
        a.at
        for a in rules.clock_actions(
            State(part.state), part.dispatched_at, part.due_at, part.arrived_at, policy, part.scene_reported_at
        )
        if a.at > now
    ]
    return min(later, default=None)


# ---- the clock -----------------------------------------------------------------------------------------------------
@dataclass
class ClockNotice:
    """One message the clock sends: the order again (`resend`, with its buttons), `unanswered` or `late` (迟到) to the
    dispatching group and the unit's duty leaders, a `remind`er or the `scene_owed` report to the unit's people."""

    chat_id: int
    kind: str
    locale: str | None
    part_id: int
    order_number: str
    incident_number: str
    unit_name: str
    due_at: datetime
    instruction: str = ""
    meeting_point: str | None = None


async def fire_dispatch(
    repos: Repos, now: datetime, policy: DispatchPolicy, batch: int
) -> tuple[list[ClockNotice], bool]:
    """Claim the parts whose clock is due by `now`, act on each once (a restart repeats nothing: `done_until`), and
    say what to send; True when the batch was full (call again)."""
    rows = await repos.dispatch.claim_due(now, batch)
    notices: list[ClockNotice] = []
    for part in rows:
        actions = [
            a
            for a in rules.clock_actions(
                State(part.state), part.dispatched_at, part.due_at, part.arrived_at, policy, part.scene_reported_at
            )
            if a.at <= now and (part.done_until is None or a.at > part.done_until)
        ]
        order = await repos.dispatch.order(part.order_id)
        linked = await repos.dispatch.linked(part.linked_unit_id)
        unit = await repos.units.get(linked.unit_id) if linked is not None else None
        incident = await repos.incidents.get(order.incident_id) if order is not None else None
        if order is None or unit is None or incident is None or order.state != "open":
            part.next_at = None
            continue

        about = ClockNotice(0, "", None, part.id, order.number, incident.number, unit.name, part.due_at)
        about.instruction, about.meeting_point = order.instruction, order.meeting_point

        kinds = {a.kind for a in actions}
        told: list[int] = []
        if kinds & {"resend", "remind", "scene_owed", "feedback_owed"}:  # the unit's people (the latest says it best)
            owed = next(k for k in ("feedback_owed", "scene_owed", "resend", "remind") if k in kinds)
            for recipient in await recipients(repos, unit, now):
                notices.append(replace(about, chat_id=recipient.chat_id, kind=owed, locale=recipient.locale))
                told.append(recipient.chat_id)
            if "resend" in kinds:
                part.resends += 1
        for kind in ("unanswered", "late"):
            if kind not in kinds:
                continue
            if kind == "late":
                part.late = True
                mark_board(order, now)
            group = await repos.groups.for_unit(order.unit_id)
            if group is not None:
                notices.append(replace(about, chat_id=group.chat_id, kind=kind))
                told.append(group.chat_id)
            for leader in await duty_leaders(repos, unit.id, now):
                if leader.active and leader.telegram_id not in told:
                    notices.append(replace(about, chat_id=leader.telegram_id, kind=kind, locale=leader.locale))
                    told.append(leader.telegram_id)
        if actions:
            await repos.audit.record(
                "system",
                "dispatch.clock",
                "dispatch_part",
                part.id,
                after={"number": order.number, "unit": unit.name, "did": sorted(kinds), "told": told},
            )
        part.done_until = now
        part.next_at = next_action_at(part, policy, now)
    await repos.session.flush()
    return notices, len(rows) >= batch


async def next_dispatch_step(repos: Repos) -> datetime | None:
    return await repos.dispatch.next_at()


# ---- the forms' filers (bot.usecases.filing) -------------------------------------------------------------------
@dataclass(frozen=True)
class OrderCard:
    """One unit's order as its message shows it (plain data; the adapter renders it in the reader's language)."""

    part_id: int
    order_id: int
    order_number: str
    incident_number: str
    category: str
    subtype: str | None
    grade: str
    place: str | None
    lat: float | None
    lon: float | None
    instruction: str
    meeting_point: str | None
    dispatcher: str
    dispatcher_phone: str | None
    unit: str
    tier: str
    minutes: int
    dispatched_at: datetime
    due_at: datetime
    state: str
    late: bool
    decline_reason: str | None
    distance_m: float | None
    order_open: bool


@dataclass
class DispatchFiled:
    """What a dispatch form did: an order made (`cards`: one per unit, with where each goes), or a unit's scene
    report or feedback recorded. `created` False: a repeated submit, nothing new."""

    created: bool
    kind: str  # order | scene | feedback
    number: str
    cards: list[tuple[OrderCard, list[Recipient]]] = field(default_factory=list)
    board_chat_id: int | None = None  # the dispatching duty group (the board), when bound
    order_id: int = 0


async def order_card(repos: Repos, part: DispatchPart, policy: DispatchPolicy) -> OrderCard:
    order = await repos.dispatch.order(part.order_id)
    linked = await repos.dispatch.linked(part.linked_unit_id)
    assert order is not None and linked is not None
    incident = await repos.incidents.get(order.incident_id)
    unit = await repos.units.get(linked.unit_id)
    dispatcher = await repos.users.get(order.dispatcher_id)
    assert incident is not None and unit is not None and dispatcher is not None
    window = part.due_at - part.dispatched_at
    return OrderCard(
        part_id=part.id,
        order_id=order.id,
        order_number=order.number,
        incident_number=incident.number,
        category=incident.category,
        subtype=incident.subtype,
        grade=incident.grade,
        place=incident.place_text,
        lat=incident.latitude,
        lon=incident.longitude,
        instruction=order.instruction,
        meeting_point=order.meeting_point,
        dispatcher=dispatcher.name,
        dispatcher_phone=dispatcher.phone,
        unit=unit.name,
        tier=part.tier,
        minutes=int(window.total_seconds() // 60),
        dispatched_at=part.dispatched_at,
        due_at=part.due_at,
        state=part.state,
        late=part.late,
        decline_reason=part.decline_reason,
        distance_m=part.distance_m,
        order_open=order.state == "open",
    )


async def dispatch_start(repos: Repos, user: Member | None, number: str) -> tuple[dict[str, object], list[Candidate]]:
    """What `/dispatch KB-…` opens its form with: the incident (subject) and the units this person may order out."""
    incident = await incident_to_dispatch(repos, user, number)
    assert user is not None
    units = await candidates(repos, user)
    if not units:
        raise Refused(N_("dispatch.no_linked_units"))
    return {"incident": incident.number, "incident_id": incident.id}, units


async def submit_dispatch(
    repos: Repos,
    user: Member,
    draft: Mapping[str, Any],
    extras: Mapping[str, Mapping[str, Any]],
    config: Config,
    receipt: object = None,
) -> DispatchFiled:
    """The order form, finished: the order once (a repeated submit of the same draft finds it)."""
    token = str(draft["token"])
    existing = await repos.dispatch.order_by_token(user.id, token)
    if existing is not None:
        return DispatchFiled(False, "order", existing.number, order_id=existing.id)
    answers, subject = draft["answers"], draft.get("subject") or {}
    chosen = [int(v) for v in (answers.get("units") or {}).get("selected") or [] if str(v).isdigit()]
    now = config.clock()
    into = int(subject["order"]) if subject.get("order") else None
    ordered = await order_out(
        repos,
        user,
        str(subject.get("incident", "")),
        chosen,
        str(answers.get("instruction") or ""),
        answers.get("meeting_point"),
        now,
        config,
        config.dispatch,
        into,
    )
    if into is None:
        ordered.order.draft_token = token
    group = await repos.groups.for_unit(ordered.order.unit_id)
    filed = DispatchFiled(True, "order", ordered.order.number, order_id=ordered.order.id)
    filed.board_chat_id = group.chat_id if group is not None else None
    for part, _linked, _unit in ordered.parts:
        filed.cards.append((await order_card(repos, part, config.dispatch), ordered.recipients[part.id]))
    return filed


async def _submit_answer(
    repos: Repos, user: Member, draft: Mapping[str, Any], config: Config, step: Move, kind: str
) -> DispatchFiled:
    token = str(draft["token"])
    part_id = int((draft.get("subject") or {}).get("part") or 0)
    part = await repos.dispatch.part(part_id)
    stored = (part.scene_report if step is Move.SCENE_REPORT else part.feedback) if part is not None else None
    if part is not None and stored and stored.get("_token") == token:  # submitted before
        order = await repos.dispatch.order(part.order_id)
        return DispatchFiled(False, kind, order.number if order else "")
    report = {k: str(v) for k, v in draft["answers"].items() if v is not None and not isinstance(v, dict)}
    report["_token"] = token
    done = await respond(repos, user, part_id, step, config.clock(), config.dispatch, report=report)
    group = await repos.groups.for_unit(done.order.unit_id)
    filed = DispatchFiled(True, kind, done.order.number, order_id=done.order.id)
    filed.board_chat_id = group.chat_id if group is not None else None
    filed.cards.append((await order_card(repos, done.part, config.dispatch), []))
    return filed


async def submit_scene(
    repos: Repos,
    user: Member,
    draft: Mapping[str, Any],
    extras: Mapping[str, Mapping[str, Any]],
    config: Config,
    receipt: object = None,
) -> DispatchFiled:
    return await _submit_answer(repos, user, draft, config, Move.SCENE_REPORT, "scene")


async def submit_feedback(
    repos: Repos,
    user: Member,
    draft: Mapping[str, Any],
    extras: Mapping[str, Mapping[str, Any]],
    config: Config,
    receipt: object = None,
) -> DispatchFiled:
    return await _submit_answer(repos, user, draft, config, Move.FEEDBACK, "feedback")


# ---- what a unit's button does (the adapter's one call) --------------------------------------------------------
@dataclass
class Answered:
    """A move done: the unit's card now, the dispatcher to tell (a decline; an arrival), the dispatching group."""

    card: OrderCard
    state: State
    confirm_far: bool = False
    distance_m: float | None = None
    dispatcher: Member | None = None
    tell_dispatcher: bool = False
    group_chat_id: int | None = None
    reason: str | None = None


MOVE_CODES = {
    "accept": Move.ACCEPT,
    "decline": Move.DECLINE,
    "depart": Move.DEPART,
    "arrive": Move.ARRIVE,
}


async def check_responder(repos: Repos, user: Member | None, part_id: int, config: Config) -> OrderCard:
    part = await repos.dispatch.part(part_id)
    linked = await repos.dispatch.linked(part.linked_unit_id) if part is not None else None
    if part is None or linked is None:
        raise Refused(N_("dispatch.gone"))
    unit = await repos.units.get(linked.unit_id)
    if user is None or unit is None or not await may(repos, user, Action.DISPATCH_RESPOND, unit_id=unit.id):
        raise Refused(N_("dispatch.not_yours"), unit=unit.name if unit else "")
    return await order_card(repos, part, config.dispatch)


async def answer(
    repos: Repos,
    user: Member | None,
    part_id: int,
    step: str,
    config: Config,
    *,
    reason: str | None = None,
    location: tuple[float, float] | None = None,
    far_confirmed: bool = False,
) -> Answered:
    move_ = MOVE_CODES.get(step)
    if move_ is None:
        raise Refused(N_("common.stale_button"))
    now = config.clock()
    done = await respond(
        repos, user, part_id, move_, now, config.dispatch, reason=reason, location=location, far_confirmed=far_confirmed
    )
    card = await order_card(repos, done.part, config.dispatch)
    out = Answered(card, done.state, done.confirm_far, done.part.distance_m, tell_dispatcher=done.tell_dispatcher)
    if done.confirm_far and location is not None:
        incident = await repos.incidents.get(done.order.incident_id)
        if incident is not None and incident.latitude is not None and incident.longitude is not None:
            out.distance_m = rules.distance_m(location[0], location[1], incident.latitude, incident.longitude)
    if not done.confirm_far:
        out.dispatcher = await repos.users.get(done.order.dispatcher_id)
        group = await repos.groups.for_unit(done.order.unit_id)
        out.group_chat_id = group.chat_id if group is not None else None
        out.reason = done.part.decline_reason
    return out


# ---- linked units from a file (operators: python -m bot admin import-linked-units) ---------------------------------
HEADERS = {  # a column's header (English or Chinese) -> its field
    "code": "code", "单位代码": "code", "代码": "code",
    "name": "name", "单位名称": "name", "名称": "name",
    "parent": "parent", "上级单位": "parent", "上级单位代码": "parent",
    "kind": "kind", "类别": "kind", "类型": "kind",
    "tier": "tier", "分级": "tier", "响应分级": "tier",
}  # fmt: skip


@dataclass
class LinkedImport:
    added: list[str] = field(default_factory=list)
    # every bad row: (line, catalog id, values, the English for the CLI); with any, nothing stored
    problems: list[tuple[int, str, dict[str, Any], str]] = field(default_factory=list)


async def import_linked_units(
    repos: Repos, actor: str, data: bytes, filename: str, config: Config, user: Member | None = None
) -> LinkedImport:
    """A CSV or XLSX of linked units (code, name, parent, kind, tier: a unit of the tree by its code, or an outside
    agency given a unit of its own under `parent`). Every bad row is named with its line; with any, nothing is
    stored (the caller's transaction rolls back). `user` (an administrator in chat; the CLI passes none): only units
    they manage, or outside agencies under one."""
    from bot.domain.roster import RosterFileError, read_table

    result = LinkedImport()
    try:
        rows = read_table(data, filename, config.table_limits)
    except RosterFileError as exc:
        result.problems.append((0, str(exc.args[0]), dict(exc.params), f"the file: {exc.args[0]} {exc.params}"))
        return result
    columns = (
        {HEADERS.get(c.strip().lower(), HEADERS.get(c.strip(), "")): i for i, c in enumerate(rows[0])} if rows else {}
    )
    missing = [c for c in ("code", "kind", "tier") if c not in columns]
    if missing:
        text = f"line 1: the header lacks {', '.join(missing)} (columns: code, name, parent, kind, tier)"
        result.problems.append((1, N_("linked.err.header"), {"missing": ", ".join(missing)}, text))
        return result

    def cell(row: list[str], name: str) -> str:
        i = columns.get(name)
        return row[i].strip() if i is not None and i < len(row) else ""

    good: list[tuple[str, str, str, str | None, str | None]] = []
    seen: set[str] = set()
    for line, row in enumerate(rows[1:], start=2):  # every row checked first: nothing is written unless all pass
        if not any(c.strip() for c in row):
            continue
        code, parent = cell(row, "code"), cell(row, "parent") or None
        kind, tier, name = cell(row, "kind"), cell(row, "tier"), cell(row, "name") or None
        if code in seen:
            result.problems.append((line, N_("linked.err.twice"), {"code": code}, f"line {line}: {code} twice"))
            continue
        seen.add(code)
        if user is not None:
            existing = await repos.units.by_code(code)
            where = existing or (await repos.units.by_code(parent) if parent else None)
            if where is not None and not await may(repos, user, Action.LINKED_MANAGE, unit_id=where.id):
                text = f"line {line}: {code} is not a unit you manage"
                result.problems.append((line, N_("linked.err.not_yours"), {"code": code}, text))
                continue
        try:
            await check_linked_unit(repos, code, kind, tier, config.dispatch, name, parent)
        except LinkedError as exc:
            result.problems.append((line, exc.msgid, dict(exc.params), f"line {line}: {exc}"))
            continue
        good.append((code, kind, tier, name, parent))
    if result.problems:
        return result
    for code, kind, tier, name, parent in good:
        await add_linked_unit(repos, actor, code, kind, tier, config.dispatch, name, parent)
        result.added.append(code)
    return result


# ---- the live board (one message per order in the dispatching duty group) -----------------------------------------
BOARD_COALESCE = timedelta(seconds=3)  # moves within this of each other make one edit (a group takes 20 a minute)
BOARD_HOLD = timedelta(seconds=60)  # a process drawing a board holds it this long (then another may)


def mark_board(order: DispatchOrder, now: datetime) -> None:
    """A part moved: draw the order's board again soon (not at once: the next moves ride along)."""
    if order.board_chat_id is None:
        return
    due = now + BOARD_COALESCE
    order.board_due_at = due if order.board_due_at is None else min(order.board_due_at, due)


@dataclass(frozen=True)
class BoardLine:
    unit: str
    minutes: int
    state: str
    late: bool
    due_at: datetime
    accepted_at: datetime | None
    departed_at: datetime | None
    arrived_at: datetime | None
    distance_m: float | None
    decline_reason: str | None
    scene: str | None
    feedback: str | None


@dataclass(frozen=True)
class Board:
    order_id: int
    number: str
    incident_number: str
    instruction: str
    meeting_point: str | None
    dispatcher: str
    created_at: datetime
    open: bool
    chat_id: int
    message_id: int | None
    held_until: datetime
    lines: tuple[BoardLine, ...]


def _answers_text(answers: Mapping[str, Any] | None) -> str | None:
    """A scene report's or a feedback's typed answers, one line (a choice's code is left out: what it asks for is
    typed in the field that follows it)."""
    if not answers:
        return None
    typed = [str(v) for k, v in answers.items() if not str(k).startswith("_") and k not in CHOICES and v]
    return " / ".join(typed) or None


CHOICES = frozenset({"reinforcement"})


async def boards_due(repos: Repos, now: datetime, limit: int = 50) -> list[Board]:
    """The boards to draw now, each held for this process a while (see BOARD_HOLD)."""
    held = now + BOARD_HOLD
    boards = []
    for order in await repos.dispatch.claim_boards(now, held, limit):
        incident = await repos.incidents.get(order.incident_id)
        dispatcher = await repos.users.get(order.dispatcher_id)
        if order.board_chat_id is None or incident is None or dispatcher is None:
            order.board_due_at = None
            continue
        lines = []
        for part in await repos.dispatch.parts_of(order.id):
            linked = await repos.dispatch.linked(part.linked_unit_id)
            unit = await repos.units.get(linked.unit_id) if linked is not None else None
            lines.append(
                BoardLine(
                    unit=unit.name if unit else "?",
                    minutes=int((part.due_at - part.dispatched_at).total_seconds() // 60),
                    state=part.state,
                    late=part.late or (State(part.state) in rules.BEFORE_ARRIVAL and now > part.due_at),
                    due_at=part.due_at,
                    accepted_at=part.accepted_at,
                    departed_at=part.departed_at,
                    arrived_at=part.arrived_at,
                    distance_m=part.distance_m,
                    decline_reason=part.decline_reason,
                    scene=_answers_text(part.scene_report),
                    feedback=_answers_text(part.feedback),
                )
            )
        board = Board(
            order_id=order.id,
            number=order.number,
            incident_number=incident.number,
            instruction=order.instruction,
            meeting_point=order.meeting_point,
            dispatcher=dispatcher.name,
            created_at=order.created_at,
            open=order.state == "open",
            chat_id=order.board_chat_id,
            message_id=order.board_message_id,
            held_until=held,
            lines=tuple(lines),
        )
        boards.append(board)
    return boards


async def board_drawn(repos: Repos, order_id: int, message_id: int | None, held_until: datetime) -> None:
    """The board is in the group as it stood (`message_id`: a new message's); drawn again only if a move came since
    (it marked the board sooner than this process's hold)."""
    order = await repos.dispatch.order(order_id)
    if order is None:
        return
    if message_id is not None:
        order.board_message_id = message_id
    if order.board_due_at is not None and order.board_due_at >= held_until:
        order.board_due_at = None


async def next_board_at(repos: Repos) -> datetime | None:
    return await repos.dispatch.next_board_at()


# ---- the dispatcher's side: open orders, closing one, adding units ------------------------------------------------
@dataclass(frozen=True)
class OpenOrder:
    order_id: int
    number: str
    incident_number: str
    created_at: datetime
    units: tuple[tuple[str, str, bool], ...]  # (unit, state, late)


async def open_orders(repos: Repos, user: Member | None) -> list[OpenOrder]:
    """`/dispatches`: the open orders of this person's unit and the units below it."""
    if user is None:
        raise Refused(N_("access.unregistered"))
    subtree = units_with_descendants(await repos.units.tree(), [user.unit_id])
    out = []
    for order in await repos.dispatch.open_orders(subtree):
        if not await may(repos, user, Action.DISPATCH_VIEW, unit_id=order.unit_id):
            continue
        incident = await repos.incidents.get(order.incident_id)
        units = []
        for part in await repos.dispatch.parts_of(order.id):
            linked = await repos.dispatch.linked(part.linked_unit_id)
            unit = await repos.units.get(linked.unit_id) if linked is not None else None
            units.append((unit.name if unit else "?", part.state, part.late))
        number = incident.number if incident else "?"
        out.append(OpenOrder(order.id, order.number, number, order.created_at, tuple(units)))
    return out


async def close_order(repos: Repos, user: Member | None, order_id: int, now: datetime) -> DispatchOrder:
    """The dispatcher closes an order: the parts not done are withdrawn (their clocks stop); the board says so."""
    order = await repos.dispatch.order(order_id)
    if order is None or not await may(repos, user, Action.DISPATCH_MANAGE, unit_id=order.unit_id):
        raise Refused(N_("dispatch.gone"))
    assert user is not None
    if order.state != "open":
        raise Refused(N_("dispatch.closed"), number=order.number)
    withdrawn = []
    for part in await repos.dispatch.parts_of(order.id):
        if State(part.state) in rules.OPEN:
            part.state, part.withdrawn_at, part.next_at = State.WITHDRAWN.value, now, None
            withdrawn.append(part.id)
    order.state, order.closed_at = "closed", now
    mark_board(order, now)
    repos.session.info["board"] = True
    after = {"number": order.number, "withdrawn": withdrawn}
    await repos.audit.record(f"tg:{user.telegram_id}", "dispatch.close", "dispatch_order", order.id, after=after)
    return order


async def add_start(
    repos: Repos, user: Member | None, order_id: int
) -> tuple[dict[str, object], dict[str, object], list[Candidate]]:
    """增派: the order form again for an open order, its instruction and meeting point filled in, offering the units
    not in it yet."""
    order = await repos.dispatch.order(order_id)
    if order is None or user is None or not await may(repos, user, Action.DISPATCH_MANAGE, unit_id=order.unit_id):
        raise Refused(N_("dispatch.gone"))
    if order.state != "open":
        raise Refused(N_("dispatch.closed"), number=order.number)
    incident = await repos.incidents.get(order.incident_id)
    assert incident is not None
    already = {p.linked_unit_id for p in await repos.dispatch.parts_of(order.id)}
    units = [c for c in await candidates(repos, user) if c.linked_id not in already]
    if not units:
        raise Refused(N_("dispatch.nothing_new"), number=order.number)
    subject = {"incident": incident.number, "incident_id": incident.id, "order": order.id, "number": order.number}
    known: dict[str, object] = {"instruction": order.instruction}
    if order.meeting_point:
        known["meeting_point"] = order.meeting_point
    return subject, known, units


# ---- administrators in chat: /linked --------------------------------------------------------------------------------
async def linked_units_of(repos: Repos, user: Member | None) -> list[Candidate]:
    """`/linked`: the linked units an administrator manages (their unit's and below), active or not."""
    if user is None or not await may(repos, user, Action.LINKED_MANAGE, unit_id=user.unit_id):
        raise Refused(N_("common.not_permitted"))
    subtree = units_with_descendants(await repos.units.tree(), [user.unit_id])
    return [
        Candidate(linked.id, unit.id, unit.name, linked.kind, linked.tier)
        for linked, unit in await repos.dispatch.linked_in(subtree)
    ]


async def add_linked_in_chat(repos: Repos, user: Member | None, words: list[str], policy: DispatchPolicy) -> Candidate:
    """`/linked add CODE KIND TIER [PARENT NAME…]`: an administrator registers a unit of their tree as a linked unit,
    or makes one for an outside agency under PARENT (a unit they manage)."""
    if user is None or len(words) < 3:
        raise Refused(N_("linked.usage"))
    code, kind, tier = words[0], words[1], words[2]
    parent_code, name = (words[3], " ".join(words[4:])) if len(words) >= 5 else (None, None)
    existing = await repos.units.by_code(code)
    where = existing.id if existing is not None else None
    if where is None and parent_code is not None:
        parent = await repos.units.by_code(parent_code)
        where = parent.id if parent is not None else None
    if where is None:
        raise Refused(N_("linked.unknown_unit"), code=code[:32])
    if not await may(repos, user, Action.LINKED_MANAGE, unit_id=where):
        raise Refused(N_("common.not_permitted"))
    try:
        linked = await add_linked_unit(repos, f"tg:{user.telegram_id}", code, kind, tier, policy, name, parent_code)
    except LinkedError as exc:
        raise Refused(exc.msgid, **exc.params) from None
    unit = await repos.units.get(linked.unit_id)
    assert unit is not None
    return Candidate(linked.id, unit.id, unit.name, linked.kind, linked.tier)


async def orders_received(repos: Repos, user: Member | None, policy: DispatchPolicy) -> list[OrderCard]:
    """`/dispatches` for a linked unit's own people: its parts still open, as their order messages (with buttons)."""
    if user is None:
        return []
    linked = await repos.dispatch.linked_of_unit(user.unit_id)
    if linked is None or not await may(repos, user, Action.DISPATCH_RESPOND, unit_id=user.unit_id):
        return []
    cards = []
    for part in await repos.dispatch.parts_for_linked([linked.id]):
        order = await repos.dispatch.order(part.order_id)
        if order is not None and order.state == "open" and State(part.state) in rules.OPEN:
            cards.append(await order_card(repos, part, policy))
    return cards
