"""联动 dispatch as data and pure functions (domain rules §4 "dispatch order to a unit"; docs/dispatch.md): the
linked units' kinds and tiers, the order's states and the moves between them, the arrival clock (30 minutes for tier
"first", 40 for "other", from the order), whether a location is on scene, and the assessment (管理考核) of each
linked unit over its orders. The policy is data/dispatch.toml, overridable per deployment."""

from __future__ import annotations

import math
import statistics
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from bot.domain.durations import parse_duration
from bot.domain.text import N_

DEFAULT_DISPATCH_FILE = Path(__file__).resolve().parent / "data" / "dispatch.toml"
# the labels of the kinds data/dispatch.toml ships (a deployment's own kinds name labels of their own catalogs; a
# label no catalog has shows the kind's code)
SHIPPED_KIND_LABELS = (
    N_("dispatch.kind.police"),
    N_("dispatch.kind.fire"),
    N_("dispatch.kind.traffic"),
    N_("dispatch.kind.health"),
    N_("dispatch.kind.power"),
    N_("dispatch.kind.water"),
    N_("dispatch.kind.gas"),
    N_("dispatch.kind.telecom"),
    N_("dispatch.kind.other"),
)
EARTH_RADIUS_M = 6_371_008.8  # the mean radius (IUGG)


class DispatchPolicyError(ValueError):
    """The dispatch policy is wrong; the message names the field."""


@dataclass(frozen=True)
class DispatchPolicy:
    tiers: Mapping[str, timedelta]  # tier -> time to arrive after the order
    kinds: Mapping[str, str]  # kind -> its catalog label
    arrival_radius_m: float = 500.0
    accept: timedelta = timedelta(minutes=5)
    accept_resends: int = 1
    reminders: tuple[float, ...] = (0.5, 0.83)
    scene_report_after: timedelta = timedelta(minutes=15)
    feedback_after: timedelta = timedelta(hours=2)

    def arrival_window(self, tier: str) -> timedelta:
        try:
            return self.tiers[tier]
        except KeyError:
            raise DispatchPolicyError(f"unknown tier {tier!r} (tiers: {', '.join(self.tiers)})") from None


def _duration(raw: Any, field: str) -> timedelta:
    found = parse_duration(str(raw)) if isinstance(raw, str) else None
    if found is None:
        raise DispatchPolicyError(f"{field}: {raw!r} is not a duration such as 30m or 2h")
    return found


def load_policy(path: Path = DEFAULT_DISPATCH_FILE) -> DispatchPolicy:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise DispatchPolicyError(f"{path}: {exc}") from None
    tiers = {str(k): _duration(v, f"tiers.{k}") for k, v in (raw.get("tiers") or {}).items()}
    if not tiers:
        raise DispatchPolicyError("tiers: at least one tier is needed")
    kinds = {str(k): str(v) for k, v in (raw.get("kinds") or {}).items()}
    if not kinds:
        raise DispatchPolicyError("kinds: at least one kind is needed")
    reminders = tuple(float(f) for f in raw.get("reminders", (0.5, 0.83)))
    if any(not 0 < f < 1 for f in reminders):
        raise DispatchPolicyError("reminders: fractions of the window, each between 0 and 1")
    radius = raw.get("arrival_radius_m", 500)
    if not isinstance(radius, int | float) or isinstance(radius, bool) or not 10 <= radius <= 50_000:
        raise DispatchPolicyError("arrival_radius_m: metres, between 10 and 50000")
    resends = raw.get("accept_resends", 1)
    if not isinstance(resends, int) or isinstance(resends, bool) or not 0 <= resends <= 10:
        raise DispatchPolicyError("accept_resends: a whole number from 0 to 10")
    return DispatchPolicy(
        tiers=tiers,
        kinds=kinds,
        arrival_radius_m=float(radius),
        accept=_duration(raw.get("accept", "5m"), "accept"),
        accept_resends=resends,
        reminders=tuple(sorted(reminders)),
        scene_report_after=_duration(raw.get("scene_report_after", "15m"), "scene_report_after"),
        feedback_after=_duration(raw.get("feedback_after", "2h"), "feedback_after"),
    )


# ---- the order's states ----------------------------------------------------------------------------------------
class State(StrEnum):
    """One linked unit's part in an order."""

    DISPATCHED = "dispatched"  # sent, not answered
    ACCEPTED = "accepted"  # 接收
    DECLINED = "declined"  # 无法执行 (with a reason): the dispatcher is told and offered other units
    EN_ROUTE = "en_route"  # 已出发
    ARRIVED = "arrived"  # 已到达 (on scene, or confirmed beyond the radius)
    SCENE_REPORTED = "scene_reported"  # 现场反馈 given
    DONE = "done"  # 处置反馈 given: the unit's part is over
    WITHDRAWN = "withdrawn"  # the dispatcher closed the order before the unit was done


class Move(StrEnum):
    ACCEPT = "accept"
    DECLINE = "decline"
    DEPART = "depart"
    ARRIVE = "arrive"
    SCENE_REPORT = "scene_report"
    FEEDBACK = "feedback"
    WITHDRAW = "withdraw"


# (state, move) -> the state it leads to; a move not listed is refused (a stale or repeated button)
MOVES: dict[tuple[State, Move], State] = {
    (State.DISPATCHED, Move.ACCEPT): State.ACCEPTED,
    (State.DISPATCHED, Move.DECLINE): State.DECLINED,
    (State.DISPATCHED, Move.DEPART): State.EN_ROUTE,  # accepting by leaving at once
    (State.DISPATCHED, Move.ARRIVE): State.ARRIVED,
    (State.ACCEPTED, Move.DECLINE): State.DECLINED,
    (State.ACCEPTED, Move.DEPART): State.EN_ROUTE,
    (State.ACCEPTED, Move.ARRIVE): State.ARRIVED,
    (State.EN_ROUTE, Move.ARRIVE): State.ARRIVED,
    (State.ARRIVED, Move.SCENE_REPORT): State.SCENE_REPORTED,
    (State.ARRIVED, Move.FEEDBACK): State.DONE,
    (State.SCENE_REPORTED, Move.FEEDBACK): State.DONE,
    **{(s, Move.WITHDRAW): State.WITHDRAWN for s in State if s not in (State.DONE, State.DECLINED, State.WITHDRAWN)},
}
OPEN = frozenset(State) - {State.DONE, State.DECLINED, State.WITHDRAWN}
BEFORE_ARRIVAL = frozenset({State.DISPATCHED, State.ACCEPTED, State.EN_ROUTE})


class MoveRefused(ValueError):
    """The move does not apply in the unit's present state (the button was stale, or pressed twice)."""


def move(state: State, step: Move) -> State:
    try:
        return MOVES[(state, step)]
    except KeyError:
        raise MoveRefused(f"{step.value} after {state.value}") from None


# ---- clocks and places -------------------------------------------------------------------------------------------
def arrival_due(dispatched_at: datetime, tier: str, policy: DispatchPolicy) -> datetime:
    return dispatched_at + policy.arrival_window(tier)


def on_time(arrived_at: datetime, due_at: datetime) -> bool:
    """Within the window: arriving at the very deadline (30:00) is on time, a second later is 迟到."""
    return arrived_at <= due_at


def reminder_times(dispatched_at: datetime, due_at: datetime, policy: DispatchPolicy) -> list[datetime]:
    window = due_at - dispatched_at
    return [dispatched_at + window * f for f in policy.reminders]


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine; the error of a sphere is far below a scene's radius)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def on_scene(distance: float | None, policy: DispatchPolicy) -> bool | None:
    """None: the incident has no coordinates (arrival is taken as reported)."""
    return None if distance is None else distance <= policy.arrival_radius_m


@dataclass(frozen=True)
class ClockAction:
    """What a part's clock does at a moment: `resend` the order (n-th time), tell the unit's duty leader and the
    dispatcher it is `unanswered`, `remind` the liaison before the arrival deadline (n-th), mark it `late` (迟到) at
    the deadline, or remind that the `scene_owed` report or the `feedback_owed` is due."""

    at: datetime
    kind: str
    index: int = 0


def clock_actions(
    state: State,
    dispatched_at: datetime,
    due_at: datetime,
    arrived_at: datetime | None,
    policy: DispatchPolicy,
    scene_reported_at: datetime | None = None,
) -> list[ClockAction]:
    """Every action the part's clock may take in its present state, in time order (the caller keeps those after
    the last moment it acted on: a state change drops what no longer applies, a restart repeats nothing)."""
    actions: list[ClockAction] = []
    if state is State.DISPATCHED:
        for n in range(policy.accept_resends):
            actions.append(ClockAction(dispatched_at + policy.accept * (n + 1), "resend", n))
        actions.append(ClockAction(dispatched_at + policy.accept * (policy.accept_resends + 1), "unanswered"))
    if state in BEFORE_ARRIVAL:
        actions += [ClockAction(t, "remind", n) for n, t in enumerate(reminder_times(dispatched_at, due_at, policy))]
        actions.append(ClockAction(due_at, "late"))
    if state is State.ARRIVED and arrived_at is not None:
        actions.append(ClockAction(arrived_at + policy.scene_report_after, "scene_owed"))
    if state is State.SCENE_REPORTED and scene_reported_at is not None:
        actions.append(ClockAction(scene_reported_at + policy.feedback_after, "feedback_owed"))
    return sorted(actions, key=lambda a: a.at)


# ---- assessment (管理考核) ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Part:
    """One linked unit's part in one order, as the assessment needs it."""

    unit_id: int
    state: State
    dispatched_at: datetime
    due_at: datetime
    accepted_at: datetime | None = None
    arrived_at: datetime | None = None


@dataclass(frozen=True)
class Assessment:
    unit_id: int
    orders: int
    accepted: int
    declined: int
    arrived: int
    on_time: int
    median_minutes: float | None  # from the order to arrival, over the arrivals

    @property
    def on_time_rate(self) -> float | None:
        """On-time arrivals over the orders whose arrival came due or arrived (None: none yet)."""
        return self.on_time / self.arrived if self.arrived else None


def assess(parts: Iterable[Part]) -> list[Assessment]:
    """Per linked unit: orders, accepted (any answer but a decline that came first), declined, arrivals, on time,
    median minutes to arrive. Sorted by unit id."""
    by_unit: dict[int, list[Part]] = {}
    for part in parts:
        by_unit.setdefault(part.unit_id, []).append(part)
    out = []
    for unit_id in sorted(by_unit):
        mine = by_unit[unit_id]
        arrivals = [p for p in mine if p.arrived_at is not None]
        minutes = [(p.arrived_at - p.dispatched_at).total_seconds() / 60 for p in arrivals if p.arrived_at]
        out.append(
            Assessment(
                unit_id=unit_id,
                orders=len(mine),
                accepted=sum(1 for p in mine if p.accepted_at is not None),
                declined=sum(1 for p in mine if p.state is State.DECLINED),
                arrived=len(arrivals),
                on_time=sum(1 for p in arrivals if p.arrived_at and on_time(p.arrived_at, p.due_at)),
                median_minutes=statistics.median(minutes) if minutes else None,
            )
        )
    return out


def states_as_mermaid() -> str:
    """The order's states and the moves between them (MOVES) as a mermaid state diagram, for docs/dispatch.md."""
    lines = ["stateDiagram-v2", f"    [*] --> {State.DISPATCHED.value}"]
    for (before, step), after in MOVES.items():
        lines.append(f"    {before.value} --> {after.value}: {step.value}")
    for end in (State.DONE, State.DECLINED, State.WITHDRAWN):
        lines.append(f"    {end.value} --> [*]")
    return "\n".join(lines) + "\n"


def policy_table(policy: DispatchPolicy) -> str:
    """The shipped policy as a markdown table, for docs/dispatch.md."""
    rows = [
        f"| tier `{tier}` | arrive within {int(window.total_seconds() // 60)} min of the order |"
        for tier, window in policy.tiers.items()
    ]
    rows += [
        f"| acceptance | {int(policy.accept.total_seconds() // 60)} min, re-sent {policy.accept_resends}×, "
        "then the unit's duty leader and the dispatching group are told |",
        f"| reminders | at {', '.join(f'{f:g}' for f in policy.reminders)} of the arrival window |",
        f"| scene report | due {int(policy.scene_report_after.total_seconds() // 60)} min after arriving |",
        f"| handling feedback | asked for {int(policy.feedback_after.total_seconds() // 60)} min after the scene "
        "report |",
        f"| on scene | within {policy.arrival_radius_m:g} m of the incident's coordinates |",
        f"| kinds | {', '.join(f'`{k}`' for k in policy.kinds)} |",
    ]
    return "| rule | value |\n|---|---|\n" + "\n".join(rows) + "\n"
