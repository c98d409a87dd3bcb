"""Statutory clocks (domain rules §4) as one table: what each event makes due, by when, when the reporter is
reminded, and whom to tell after the deadline. Pure: the table is data (data/clocks.toml, overridable per
deployment), and the functions say what is due and what to do at a given `now`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo
from enum import StrEnum
from pathlib import Path
from typing import Any

from bot.domain.durations import parse_duration
from bot.domain.grading import GRADE_ORDER, Grade
from bot.domain.text import N_

DEFAULT_POLICY_FILE = Path(__file__).resolve().parent / "data" / "clocks.toml"


class Trigger(StrEnum):
    OCCURRED = "occurred"  # the event happened
    FLASH = "flash"  # a flash report was filed
    PHONE = "phone"  # a report received by phone was logged
    INITIAL = "initial"  # the written initial report was filed
    FOLLOWUP = "followup"  # a follow-up was filed (the repeating clock starts again)
    HANDLED = "handled"  # duty staff marked the incident handled
    CLOSED = "closed"  # the final report closed it
    REVISED = "revised"  # casualty figures changed after closing


class Due(StrEnum):
    INITIAL = "initial"
    WRITTEN = "written"  # the written initial report after a flash or phone report
    FOLLOWUP = "followup"
    FINAL = "final"
    SUPPLEMENTARY = "supplementary"
    EVALUATION = "evaluation"


DUE_LABELS: dict[Due, str] = {
    Due.INITIAL: N_("deadline.initial"),
    Due.WRITTEN: N_("deadline.written"),
    Due.FOLLOWUP: N_("deadline.followup"),
    Due.FINAL: N_("deadline.final"),
    Due.SUPPLEMENTARY: N_("deadline.supplementary"),
    Due.EVALUATION: N_("deadline.evaluation"),
}
AUDIENCES = frozenset({"reporter", "unit_group", "parent_group", "duty_leaders", "unit_admins"})


class PolicyError(ValueError):
    """The clock table is wrong; the message names the rule and the field."""


@dataclass(frozen=True)
class Step:
    """After the deadline (or an unacknowledged alert): wait, then tell these; `times` repeats the step."""

    wait: timedelta
    tell: tuple[str, ...]
    times: int = 1


@dataclass(frozen=True)
class Rule:
    code: str
    trigger: Trigger
    due: Due
    after: timedelta
    when: tuple[str, ...] = ()
    repeat: bool = False
    reminders: tuple[float, ...] = (0.5, 0.9, 1.0)
    escalation: tuple[Step, ...] = ()
    source: str = ""


@dataclass(frozen=True)
class Facts:
    """What the conditions of a rule look at."""

    grade: str  # I | II | III | IV | ungraded
    category: str
    subtype: str | None
    occurred_at: datetime


@dataclass(frozen=True)
class Policy:
    rules: tuple[Rule, ...]
    night: tuple[time, time] = (time(22, 0), time(6, 0))
    missed_after: timedelta = timedelta(hours=24)
    ack_when: tuple[str, ...] = ("grade>=III",)
    ack_escalation: tuple[Step, ...] = ()

    def rule(self, code: str) -> Rule:
        return next(r for r in self.rules if r.code == code)

    def rule_or_default(self, code: str, due: Due) -> Rule:
        """The rule a stored deadline was opened by; when a deployment's new table dropped it, a rule that
        still reminds the reporter at the deadline and tells the unit's group (a deadline never goes quiet)."""
        found = next((r for r in self.rules if r.code == code), None)
        if found is not None:
            return found
        return Rule(
            code,
            Trigger.OCCURRED,
            due,
            timedelta(hours=1),
            reminders=(1.0,),
            escalation=(Step(timedelta(0), ("unit_group",)),),
        )


@dataclass(frozen=True)
class Deadline:
    """One report due: by which rule, since when, by when."""

    rule: str
    due: Due
    start: datetime
    due_at: datetime


@dataclass(frozen=True)
class Action:
    """What to do about a deadline at some moment: remind the reporter (n-th reminder, `final` at the deadline),
    or escalate (n-th step: tell these), or mark it missed (漏报)."""

    kind: str  # remind | escalate | missed
    at: datetime
    index: int
    tell: tuple[str, ...] = ()
    final: bool = False


# ---- conditions ---------------------------------------------------------------------------------------
def is_night(moment: datetime, tz: tzinfo, night: tuple[time, time]) -> bool:
    """Inside the night window (start inclusive, end exclusive), which may run past midnight."""
    local = moment.astimezone(tz).time()
    start, end = night
    return start <= local or local < end if start > end else start <= local < end


def _grade_rank(grade: str) -> int | None:
    g = Grade(grade)
    return GRADE_ORDER.index(g) if g in GRADE_ORDER else None  # I is 0, the most severe; ungraded is None


def holds(condition: str, facts: Facts, tz: tzinfo, night: tuple[time, time]) -> bool:
    """One condition of a rule (see data/clocks.toml for the words)."""
    if condition in ("night", "day"):
        return is_night(facts.occurred_at, tz, night) == (condition == "night")
    for op in (">=", "<"):
        if condition.startswith("grade" + op):
            rank, limit = _grade_rank(facts.grade), _grade_rank(condition.removeprefix("grade" + op))
            if rank is None or limit is None:
                return op == "<"  # an ungraded event is never "at least" a grade
            return rank <= limit if op == ">=" else rank > limit
    for op in ("!=", "="):
        if condition.startswith("subtype" + op):
            names = set(condition.removeprefix("subtype" + op).split("|"))
            inside = f"{facts.category}.{facts.subtype}" in names
            return inside if op == "=" else not inside
    raise PolicyError(f"unknown condition {condition!r}")


# ---- what is due, and what to do --------------------------------------------------------------------------
def deadlines(trigger: Trigger, at: datetime, facts: Facts, policy: Policy, tz: tzinfo) -> list[Deadline]:
    """The reports an event makes due: every rule of this trigger whose conditions hold."""
    return [
        Deadline(r.code, r.due, at, at + r.after)
        for r in policy.rules
        if r.trigger == trigger and all(holds(c, facts, tz, policy.night) for c in r.when)
    ]


def plan(deadline: Deadline, policy: Policy) -> list[Action]:
    """Every action a deadline may take, in time order: reminders, then escalation steps, then 漏报."""
    rule = policy.rule_or_default(deadline.rule, deadline.due)
    window = deadline.due_at - deadline.start
    actions = [
        Action("remind", deadline.start + window * fraction, i, ("reporter",), final=fraction >= 1.0)
        for i, fraction in enumerate(sorted(rule.reminders))
    ]
    at, n = deadline.due_at, 0
    for step in rule.escalation:
        for _ in range(step.times):
            at += step.wait
            actions.append(Action("escalate", at, n, step.tell))
            n += 1
    actions.append(Action("missed", deadline.due_at + policy.missed_after, 0))
    return sorted(actions, key=lambda a: (a.at, a.kind != "remind"))


def due_actions(deadline: Deadline, policy: Policy, done: datetime | None, now: datetime) -> list[Action]:
    """What has come due by `now` and was not done before `done` (the last moment already handled)."""
    return [a for a in plan(deadline, policy) if a.at <= now and (done is None or a.at > done)]


def ack_steps(facts: Facts, policy: Policy, tz: tzinfo, delivered_at: datetime) -> list[Action]:
    """An alert nobody acknowledges: when to send it again and to whom (empty when the grade does not ask).
    Each step's wait runs from the step before."""
    if not all(holds(c, facts, tz, policy.night) for c in policy.ack_when):
        return []
    at, actions = delivered_at, []
    for i, step in enumerate(policy.ack_escalation):
        at += step.wait
        actions.append(Action("escalate", at, i, step.tell))
    return actions


# ---- loading and checking the table ----------------------------------------------------------------------
def check_condition(condition: str, where: str) -> None:
    """A condition the table may use: night, day, grade>=X, grade<X, subtype=a.b|c.d, subtype!=a.b."""
    if condition in ("night", "day"):
        return
    for op in (">=", "<"):
        if condition.startswith("grade" + op):
            if condition.removeprefix("grade" + op) in {g.value for g in GRADE_ORDER}:
                return
            raise PolicyError(f"{where}: {condition!r} names no grade (I, II, III, IV)")
    for op in ("!=", "="):
        if condition.startswith("subtype" + op):
            names = condition.removeprefix("subtype" + op).split("|")
            if all(n.count(".") == 1 and all(n.split(".")) for n in names):
                return
            raise PolicyError(f"{where}: {condition!r} must name category.subtype values joined by |")
    raise PolicyError(f"{where}: unknown condition {condition!r}")


def _duration(value: Any, where: str) -> timedelta:
    if isinstance(value, str):
        text = value.strip()
        if text in ("0", "0m", "0h", "0d"):
            return timedelta(0)
        parsed = parse_duration(text)
        if parsed is not None:
            return parsed
    raise PolicyError(f"{where}: {value!r} is not a duration like 30m, 2h or 3d")


def _clock(value: Any, where: str) -> time:
    try:
        return time.fromisoformat(str(value))
    except ValueError:
        raise PolicyError(f"{where}: {value!r} is not a time like 22:00") from None


def _steps(raw: Any, where: str) -> tuple[Step, ...]:
    if not isinstance(raw, list):
        raise PolicyError(f"{where}: escalation must be a list of steps")
    steps = []
    for i, item in enumerate(raw, 1):
        at = f"{where}, escalation step {i}"
        if not isinstance(item, Mapping):
            raise PolicyError(f'{at}: must be a table like {{ wait = "30m", tell = ["unit_group"] }}')
        tell = tuple(item.get("tell") or ())
        unknown = [t for t in tell if t not in AUDIENCES]
        if not tell or unknown:
            raise PolicyError(f"{at}: tell must name some of {', '.join(sorted(AUDIENCES))} (got {unknown or tell})")
        times = item.get("times", 1)
        if not isinstance(times, int) or not 1 <= times <= 20:
            raise PolicyError(f"{at}: times must be a whole number from 1 to 20")
        steps.append(Step(_duration(item.get("wait", "0m"), at), tell, times))
    return tuple(steps)


def _rule(raw: Mapping[str, Any], n: int) -> Rule:
    code = str(raw.get("code") or "")
    where = f"rule {n} ({code or 'no code'})"
    if not code:
        raise PolicyError(f"{where}: code is missing")
    known = {"code", "trigger", "due", "after", "when", "repeat", "reminders", "escalation", "source"}
    extra = sorted(set(raw) - known)
    if extra:
        raise PolicyError(f"{where}: unknown field {extra[0]!r}")
    try:
        trigger = Trigger(str(raw.get("trigger")))
    except ValueError:
        raise PolicyError(f"{where}: trigger must be one of {', '.join(t.value for t in Trigger)}") from None
    try:
        due = Due(str(raw.get("due")))
    except ValueError:
        raise PolicyError(f"{where}: due must be one of {', '.join(d.value for d in Due)}") from None
    after = _duration(raw.get("after"), where)
    if after <= timedelta(0):
        raise PolicyError(f"{where}: after must be longer than zero")
    reminders = raw.get("reminders", [0.5, 0.9, 1.0])
    if not isinstance(reminders, list) or not all(isinstance(f, int | float) and 0 < f <= 1 for f in reminders):
        raise PolicyError(f"{where}: reminders must be fractions of the window, above 0 and at most 1")
    when = tuple(str(c) for c in raw.get("when", []))
    for condition in when:
        check_condition(condition, where)
    return Rule(
        code,
        trigger,
        due,
        after,
        when,
        bool(raw.get("repeat", False)),
        tuple(float(f) for f in reminders),
        _steps(raw.get("escalation", []), where),
        str(raw.get("source", "")),
    )


def parse_policy(text: str) -> Policy:
    """Read a clock table (TOML); PolicyError names the bad rule and field."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"not valid TOML: {exc}") from None
    raw_rules = data.get("rule")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise PolicyError("no [[rule]] tables")
    rules = tuple(_rule(r, n) for n, r in enumerate(raw_rules, 1))
    for needed in (Due.INITIAL, Due.FOLLOWUP):
        if not any(r.trigger == Trigger.OCCURRED and r.due == needed for r in rules):
            raise PolicyError(f"no rule makes the {needed.value} report due when an event occurs (trigger occurred)")
    codes = [r.code for r in rules]
    duplicate = next((c for c in codes if codes.count(c) > 1), None)
    if duplicate:
        raise PolicyError(f"rule code {duplicate!r} is used twice")
    night = data.get("night", ["22:00", "06:00"])
    if not isinstance(night, list) or len(night) != 2:
        raise PolicyError('night must be [start, end], e.g. ["22:00", "06:00"]')
    ack = data.get("acknowledgement") or {}
    ack_when = tuple(str(c) for c in ack.get("when", ["grade>=III"]))
    for condition in ack_when:
        check_condition(condition, "acknowledgement")
    return Policy(
        rules,
        (_clock(night[0], "night"), _clock(night[1], "night")),
        _duration(data.get("missed_after", "24h"), "missed_after"),
        ack_when,
        _steps(ack.get("escalation", []), "acknowledgement"),
    )


def load_policy(path: Path | None = None) -> Policy:
    """The shipped table, or a deployment's own."""
    return parse_policy((path or DEFAULT_POLICY_FILE).read_text(encoding="utf-8"))


def occurrence_deadlines(facts: Facts, policy: Policy, tz: tzinfo) -> tuple[Deadline, Deadline]:
    """The initial report's and the first follow-up's deadlines of an event (a table whose conditions leave
    one out falls back to its longest such rule, so a filed report always has both)."""
    found = {d.due: d for d in deadlines(Trigger.OCCURRED, facts.occurred_at, facts, policy, tz)}
    pair = []
    for due in (Due.INITIAL, Due.FOLLOWUP):
        if due not in found:
            rule = max(
                (r for r in policy.rules if r.trigger == Trigger.OCCURRED and r.due == due), key=lambda r: r.after
            )
            found[due] = Deadline(rule.code, due, facts.occurred_at, facts.occurred_at + rule.after)
        pair.append(found[due])
    return pair[0], pair[1]
