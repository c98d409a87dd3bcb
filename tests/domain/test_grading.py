"""Suggested grade: every boundary of domain rules §2."""

from __future__ import annotations

import pytest

from bot.domain.grading import Casualties, Grade, at_least, suggest_grade

C = Casualties


@pytest.mark.parametrize(
    ("deaths", "grade"),
    [(0, "IV"), (2, "IV"), (3, "III"), (9, "III"), (10, "II"), (29, "II"), (30, "I"), (500, "I")],
)
def test_production_safety_deaths(deaths: int, grade: str) -> None:
    assert suggest_grade("accident", "industrial", C(deaths=deaths), None) == grade


def test_missing_count_as_deaths() -> None:
    assert suggest_grade("accident", "traffic", C(deaths=2, missing=1), None) == Grade.III
    assert suggest_grade("accident", "traffic", C(deaths=None, missing=10), None) == Grade.II


@pytest.mark.parametrize(
    ("serious", "grade"), [(9, "IV"), (10, "III"), (49, "III"), (50, "II"), (99, "II"), (100, "I")]
)
def test_production_safety_serious_injuries(serious: int, grade: str) -> None:
    assert suggest_grade("accident", "fire", C(serious=serious), None) == grade


@pytest.mark.parametrize(
    ("loss", "grade"),
    [
        (9_999_999, "IV"),
        (10_000_000, "III"),
        (49_999_999, "III"),
        (50_000_000, "II"),
        (99_999_999, "II"),
        (100_000_000, "I"),
    ],
)
def test_production_safety_loss(loss: int, grade: str) -> None:
    assert suggest_grade("accident", "traffic", C(), loss) == grade


def test_any_one_criterion_reaches_the_grade() -> None:
    assert suggest_grade("accident", "industrial", C(deaths=1, serious=50), 1_000) == Grade.II


def test_unknown_counts_as_no_evidence() -> None:
    assert suggest_grade("accident", "industrial", C(), None) == Grade.IV
    assert suggest_grade("accident", "industrial", C(deaths=None, serious=None, injured=None), None) == Grade.IV


@pytest.mark.parametrize(
    ("deaths", "loss", "grade"),
    [
        (2, 999_999, "IV"),
        (3, 0, "III"),
        (0, 1_000_000, "III"),
        (0, 4_999_999, "III"),
        (0, 5_000_000, "II"),
        (10, 0, "II"),
        (0, 10_000_000, "I"),
        (30, 0, "I"),
    ],
)
def test_geological(deaths: int, loss: int, grade: str) -> None:
    assert suggest_grade("natural", "geological", C(deaths=deaths), loss) == grade


@pytest.mark.parametrize(
    ("deaths", "grade"), [(9, "IV"), (10, "III"), (49, "III"), (50, "II"), (299, "II"), (300, "I")]
)
def test_earthquake(deaths: int, grade: str) -> None:
    assert suggest_grade("natural", "earthquake", C(deaths=deaths), None) == grade


@pytest.mark.parametrize(
    ("deaths", "serious", "loss", "grade"),
    [
        (0, 0, 4_999_999, "IV"),
        (0, 0, 5_000_000, "III"),
        (0, 0, 20_000_000, "II"),
        (0, 100, 0, "I"),
        (3, 0, 0, "III"),
        (0, 50, 0, "II"),
    ],
)
def test_environment(deaths: int, serious: int, loss: int, grade: str) -> None:
    assert suggest_grade("accident", "environment", C(deaths=deaths, serious=serious), loss) == grade


@pytest.mark.parametrize(
    ("deaths", "injured", "grade"),
    [(0, 99, "IV"), (0, 100, "IV"), (0, 101, "III"), (1, 0, "III"), (1, 101, "II"), (9, 0, "III"), (10, 0, "II")],
)
def test_food_poisoning(deaths: int, injured: int, grade: str) -> None:
    assert suggest_grade("health", "food", C(deaths=deaths, injured=injured), None) == grade


def test_social_events_are_ungraded() -> None:
    assert suggest_grade("social", "mass_incident", C(deaths=50), 10**9) == Grade.UNGRADED


def test_at_least() -> None:
    assert at_least("III", Grade.III) and at_least("I", Grade.III) and not at_least("IV", Grade.III)
    assert not at_least("ungraded", Grade.IV)
