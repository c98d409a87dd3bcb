"""联动 dispatch's pure rules: tiers at their boundaries, the order's moves, distance and radius, the assessment
against hand-computed figures, and a deployment's policy file checked field by field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.domain.dispatch import (
    DispatchPolicyError,
    Move,
    MoveRefused,
    Part,
    State,
    arrival_due,
    assess,
    distance_m,
    load_policy,
    move,
    on_scene,
    on_time,
    reminder_times,
)

T0 = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
POLICY = load_policy()


@pytest.mark.parametrize(
    ("tier", "after", "expected"),
    [
        ("first", timedelta(minutes=29, seconds=59), True),
        ("first", timedelta(minutes=30), True),  # at the very deadline: still within 30 minutes
        ("first", timedelta(minutes=30, seconds=1), False),  # 迟到
        ("other", timedelta(minutes=30, seconds=1), True),
        ("other", timedelta(minutes=40), True),
        ("other", timedelta(minutes=40, seconds=1), False),
    ],
)
def test_arrival_is_on_time_within_the_tiers_window(tier: str, after: timedelta, expected: bool) -> None:
    assert on_time(T0 + after, arrival_due(T0, tier, POLICY)) is expected


def test_the_liaison_is_reminded_before_the_arrival_deadline() -> None:
    due = arrival_due(T0, "first", POLICY)
    assert reminder_times(T0, due, POLICY) == [T0 + timedelta(minutes=15), T0 + timedelta(minutes=24.9)]


def test_an_order_moves_only_as_the_table_says() -> None:
    state = State.DISPATCHED
    for step, expected in [
        (Move.ACCEPT, State.ACCEPTED),
        (Move.DEPART, State.EN_ROUTE),
        (Move.ARRIVE, State.ARRIVED),
        (Move.SCENE_REPORT, State.SCENE_REPORTED),
        (Move.FEEDBACK, State.DONE),
    ]:
        state = move(state, step)
        assert state is expected
    with pytest.raises(MoveRefused):
        move(State.DONE, Move.WITHDRAW)  # over: nothing to withdraw
    with pytest.raises(MoveRefused):
        move(State.ACCEPTED, Move.ACCEPT)  # pressed twice
    with pytest.raises(MoveRefused):
        move(State.EN_ROUTE, Move.DECLINE)  # on the way: no longer declined, withdrawn by the dispatcher
    assert move(State.EN_ROUTE, Move.WITHDRAW) is State.WITHDRAWN
    assert move(State.DISPATCHED, Move.DECLINE) is State.DECLINED


def test_distance_and_the_scene_radius() -> None:
    # one thousandth of a degree of latitude is about 111 m
    assert distance_m(31.230, 121.470, 31.231, 121.470) == pytest.approx(111.2, abs=0.5)
    assert distance_m(31.23, 121.47, 31.23, 121.47) == 0.0
    beijing_shanghai = distance_m(39.9042, 116.4074, 31.2304, 121.4737)
    assert 1_060_000 < beijing_shanghai < 1_075_000
    assert on_scene(499.9, POLICY) is True and on_scene(500.0, POLICY) is True and on_scene(500.1, POLICY) is False
    assert on_scene(None, POLICY) is None  # the incident has no coordinates


def test_assessment_against_hand_computed_figures() -> None:
    due_first, due_other = T0 + timedelta(minutes=30), T0 + timedelta(minutes=40)

    def at(minutes: int) -> datetime:
        return T0 + timedelta(minutes=minutes)

    parts = [
        # unit 1 (tier first): on time at 20 min, late at 35 min, declined once, one still on its way
        Part(1, State.DONE, T0, due_first, accepted_at=at(2), arrived_at=at(20)),
        Part(1, State.ARRIVED, T0, due_first, accepted_at=at(1), arrived_at=at(35)),
        Part(1, State.DECLINED, T0, due_first),
        Part(1, State.EN_ROUTE, T0, due_first, accepted_at=at(3)),
        # unit 2 (tier other): arrived at exactly 40:00
        Part(2, State.SCENE_REPORTED, T0, due_other, accepted_at=T0, arrived_at=due_other),
    ]
    first, second = assess(parts)
    counted = (first.unit_id, first.orders, first.accepted, first.declined, first.arrived, first.on_time)
    assert counted == (1, 4, 3, 1, 2, 1)
    assert first.on_time_rate == 0.5 and first.median_minutes == 27.5  # (20 + 35) / 2
    assert (second.orders, second.on_time, second.on_time_rate, second.median_minutes) == (1, 1, 1.0, 40.0)
    assert assess([]) == []


def test_a_deployments_policy_file_is_checked_field_by_field(tmp_path: Path) -> None:
    def policy(text: str) -> Path:
        path = tmp_path / "dispatch.toml"
        path.write_text(text, encoding="utf-8")
        return path

    good = policy('[tiers]\nfirst = "20m"\n[kinds]\npolice = "dispatch.kind.police"\n')
    loaded = load_policy(good)
    assert arrival_due(T0, "first", loaded) == T0 + timedelta(minutes=20)
    with pytest.raises(DispatchPolicyError, match="unknown tier 'other'"):
        arrival_due(T0, "other", loaded)
    with pytest.raises(DispatchPolicyError, match=r"tiers\.first"):
        load_policy(policy('[tiers]\nfirst = "soon"\n[kinds]\npolice = "x"\n'))
    with pytest.raises(DispatchPolicyError, match="arrival_radius_m"):
        load_policy(policy('arrival_radius_m = 0\n[tiers]\nfirst = "30m"\n[kinds]\npolice = "x"\n'))
    with pytest.raises(DispatchPolicyError, match="kinds"):
        load_policy(policy('[tiers]\nfirst = "30m"\n'))
    with pytest.raises(DispatchPolicyError, match="reminders"):
        load_policy(policy('reminders = [1.5]\n[tiers]\nfirst = "30m"\n[kinds]\npolice = "x"\n'))
