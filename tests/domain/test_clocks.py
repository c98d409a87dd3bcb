"""The clock table (domain rules §4): each rule fires at the right moment, with its boundaries; a deployment's
own table is checked and a bad rule is named."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.domain.clocks import (
    Action,
    Due,
    Facts,
    PolicyError,
    Trigger,
    ack_steps,
    deadlines,
    due_actions,
    load_policy,
    parse_policy,
    plan,
)

TZ = ZoneInfo("Asia/Shanghai")
POLICY = load_policy()
H, M, D = timedelta(hours=1), timedelta(minutes=1), timedelta(days=1)


def at(hh: int, mm: int = 0, day: int = 24) -> datetime:
    return datetime(2026, 11, day, hh, mm, tzinfo=TZ)


def facts(grade: str = "IV", subtype: str = "accident.industrial", hh: int = 14, mm: int = 0) -> Facts:
    category, sub = subtype.split(".")
    return Facts(grade, category, sub, at(hh, mm))


DAY = {("initial", Due.INITIAL, 2 * H), ("first_followup", Due.FOLLOWUP, 72 * H)}
NIGHT = {("initial_night", Due.INITIAL, 24 * H), ("first_followup", Due.FOLLOWUP, 72 * H)}
SUPP_7 = {("supplementary_traffic_fire", Due.SUPPLEMENTARY, 7 * D)}


@pytest.mark.parametrize(
    ("trigger", "f", "expected"),
    [
        (Trigger.OCCURRED, facts(hh=14), DAY),
        (Trigger.OCCURRED, facts(hh=21, mm=59), DAY),  # the night starts at 22:00…
        (Trigger.OCCURRED, facts(hh=22), NIGHT),
        (Trigger.OCCURRED, facts(hh=5, mm=59), NIGHT),
        (Trigger.OCCURRED, facts(hh=6), DAY),  # …and ends at 06:00
        (Trigger.FLASH, facts(), {("written_after_flash", Due.WRITTEN, 30 * M)}),
        (Trigger.PHONE, facts(), {("written_after_phone", Due.WRITTEN, 30 * M)}),
        (Trigger.FOLLOWUP, facts("I"), {("followup_major", Due.FOLLOWUP, 12 * H)}),
        (Trigger.FOLLOWUP, facts("II"), {("followup_major", Due.FOLLOWUP, 12 * H)}),
        (Trigger.FOLLOWUP, facts("III"), {("followup", Due.FOLLOWUP, 24 * H)}),
        (Trigger.FOLLOWUP, facts("ungraded", "social.mass_incident"), {("followup", Due.FOLLOWUP, 24 * H)}),
        (Trigger.HANDLED, facts(), {("final", Due.FINAL, 24 * H)}),
        (Trigger.REVISED, facts(subtype="accident.traffic"), SUPP_7),
        (Trigger.REVISED, facts(subtype="accident.fire"), SUPP_7),
        (Trigger.REVISED, facts(subtype="accident.industrial"), {("supplementary", Due.SUPPLEMENTARY, 30 * D)}),
        (Trigger.REVISED, facts(subtype="natural.flood_drought"), {("supplementary", Due.SUPPLEMENTARY, 30 * D)}),
        (Trigger.CLOSED, facts("II"), {("evaluation", Due.EVALUATION, 20 * D)}),
        (Trigger.CLOSED, facts("III"), set()),
        (Trigger.CLOSED, facts("ungraded", "social.criminal"), set()),
        (Trigger.INITIAL, facts(), set()),
    ],
)
def test_each_rule_makes_its_report_due(trigger: Trigger, f: Facts, expected: set[tuple[str, Due, timedelta]]) -> None:
    start = f.occurred_at + 5 * M
    found = deadlines(trigger, start, f, POLICY, TZ)
    assert {(d.rule, d.due, d.due_at - start) for d in found} == expected
    assert all(d.start == start for d in found)


def test_reminders_escalation_and_missed_of_the_initial_report() -> None:
    (d,) = [x for x in deadlines(Trigger.OCCURRED, at(14), facts(), POLICY, TZ) if x.rule == "initial"]
    assert [(a.kind, a.at, a.tell, a.final) for a in plan(d, POLICY)] == [
        ("remind", at(15), ("reporter",), False),  # half the window
        ("remind", at(15, 48), ("reporter",), False),  # 90%
        ("remind", at(16), ("reporter",), True),  # at the deadline
        ("escalate", at(16), ("unit_group",), False),  # late (迟报): the unit's duty group
        ("escalate", at(16, 30), ("parent_group",), False),  # a step later: the parent's
        ("missed", at(16, day=25), (), False),  # never filed: 漏报 after the grace
    ]


def test_each_action_is_due_once_at_its_moment() -> None:
    (d,) = [x for x in deadlines(Trigger.FLASH, at(14), facts(), POLICY, TZ)]
    assert due_actions(d, POLICY, None, at(14, 14)) == []
    first = due_actions(d, POLICY, None, at(14, 15))  # exactly at 50%: due
    assert [a.kind for a in first] == ["remind"]
    assert due_actions(d, POLICY, at(14, 15), at(14, 20)) == []  # nothing new since it was handled
    later = due_actions(d, POLICY, at(14, 15), at(14, 45))  # the bot was down for half an hour
    assert [(a.kind, a.at) for a in later] == [
        ("remind", at(14, 27)),
        ("remind", at(14, 30)),
        ("escalate", at(14, 30)),
        ("escalate", at(14, 45)),
    ]


def test_an_unacknowledged_alert_of_grade_iii_and_up_is_escalated() -> None:
    delivered = at(14)
    assert [(a.at, a.tell) for a in ack_steps(facts("III"), POLICY, TZ, delivered)] == [
        (at(14, 5), ("unit_group", "duty_leaders")),
        (at(14, 15), ("parent_group",)),
    ]
    assert ack_steps(facts("IV"), POLICY, TZ, delivered) == []
    assert ack_steps(facts("ungraded", "social.criminal"), POLICY, TZ, delivered) == []


def test_a_repeating_rule_and_every_row_has_its_source() -> None:
    assert POLICY.rule("followup_major").repeat and not POLICY.rule("initial").repeat
    assert all(rule.source for rule in POLICY.rules)
    assert {r.due for r in POLICY.rules} == set(Due)
    assert isinstance(plan(deadlines(Trigger.HANDLED, at(9), facts(), POLICY, TZ)[0], POLICY)[0], Action)


FOLLOWUP = """
[[rule]]
code = "first_followup"
trigger = "occurred"
due = "followup"
after = "72h"
"""
GOOD = (
    FOLLOWUP
    + """
[[rule]]
code = "initial"
trigger = "occurred"
due = "initial"
after = "2h"
"""
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace('"2h"', '"two hours"'), "rule 2 (initial): 'two hours' is not a duration"),
        (
            GOOD.replace('trigger = "occurred"\ndue = "initial"', 'trigger = "whenever"\ndue = "initial"'),
            "rule 2 (initial): trigger must be one of",
        ),
        (GOOD.replace('due = "initial"', 'due = "poem"'), "rule 2 (initial): due must be one of"),
        (GOOD + 'when = ["full moon"]', "rule 2 (initial): unknown condition 'full moon'"),
        (GOOD + 'when = ["grade>=V"]', "names no grade"),
        (GOOD + 'escalation = [{ wait = "1h", tell = ["the press"] }]', "escalation step 1: tell must name"),
        (GOOD + "reminders = [0, 2]", "reminders must be fractions"),
        (GOOD + 'colour = "red"', "unknown field 'colour'"),
        (GOOD + GOOD, "rule code 'first_followup' is used twice"),
        (GOOD.replace('code = "initial"', ""), "rule 2 (no code): code is missing"),
        (FOLLOWUP, "no rule makes the initial report due when an event occurs"),
        ("rule = 3", "no [[rule]] tables"),
        ("[[rule]\n", "not valid TOML"),
    ],
)
def test_a_bad_table_names_the_rule_and_the_reason(text: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        parse_policy(text)
