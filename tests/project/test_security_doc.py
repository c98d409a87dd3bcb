"""docs/security.md states the authorization table as the code has it."""

from __future__ import annotations

from pathlib import Path

from bot.domain.access import POLICY, Action, Actor, Scope, Target, permits
from bot.domain.roles import Role

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def test_the_threat_models_table_is_the_codes() -> None:
    text = DOC.read_text(encoding="utf-8")
    for action, grants in POLICY.items():
        parts = []
        for grant in grants:
            roles = "anyone registered" if grant.roles is None else ", ".join(sorted(r.value for r in grant.roles))
            parts.append(f"{roles} — {grant.scope.value}")
        assert f"| `{action.value}` | " + "; ".join(parts) + " |" in text, action
    assert set(POLICY) == set(Action)  # every action has a row


def test_scopes_follow_the_unit_tree() -> None:
    # units: 1 province > 2 city > 4 county; 3 a sibling city
    city_target = Target(chain=(2, 1))
    publisher = frozenset({Role.PUBLISHER.value})
    for unit, allowed in ((2, True), (1, True), (3, False), (4, False)):
        actor = Actor(person_id=10, unit_id=unit, roles=publisher)
        assert permits(Action.WARNING_LIFT, actor, city_target) is allowed, unit
    assert not permits(Action.WARNING_LIFT, None, city_target)  # a stranger
    assert not permits(Action.WARNING_LIFT, Actor(10, 2, frozenset({Role.REPORTER.value})), city_target)
    # own records, own unit exactly, reached, here
    reporter = Actor(10, 4, frozenset({Role.REPORTER.value}), chat_id=10)
    assert permits(Action.INCIDENT_VIEW, reporter, Target(chain=(2, 1), owner_id=10))
    assert not permits(Action.INCIDENT_VIEW, reporter, Target(chain=(2, 1), owner_id=11))
    officer = Actor(10, 4, frozenset({Role.DUTY_OFFICER.value}))
    assert not permits(Action.HANDOVER_COMPOSE, Actor(10, 1, officer.roles), Target(chain=(2, 1)))
    assert permits(Action.WARNING_VIEW, officer, Target(chain=(2, 1), reached=frozenset({2, 4})))
    assert permits(Action.WARNING_RECEIVE, Actor(10, 4, frozenset(), chat_id=-5), Target(chat_id=-5))
    assert not permits(Action.WARNING_RECEIVE, Actor(10, 4, frozenset(), chat_id=-6), Target(chat_id=-5))
    assert {g.scope for grants in POLICY.values() for g in grants} == set(Scope)
