"""A report's answers read into typed facts (bot.domain.facts): what every filer, the card, the desk and the export
read, and what a follow-up changes."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.domain.facts import Place, ReportFacts, casualty_figures, figure_changes, updated
from bot.domain.grading import Casualties

ANSWERS = {
    "occurred_at": "2026-07-01T08:30:00+00:00",
    "place": {"text": "XX镇XX村河堤", "lat": 31.2, "lon": 121.4},
    "category": "accident",
    "subtype": "traffic",
    "casualties": {"deaths": 1, "injured": 5, "missing": 0, "serious": None, "trapped": 0},
    "loss": 3_500_000,
    "description": "货车与大巴相撞",
}


def test_answers_become_typed_facts() -> None:
    facts = ReportFacts.from_answers(ANSWERS)
    assert facts.occurred_at == datetime(2026, 7, 1, 8, 30, tzinfo=UTC)
    assert facts.place == Place("XX镇XX村河堤", 31.2, 121.4)
    assert facts.casualties == Casualties(deaths=1, missing=0, serious=None, injured=5, trapped=0)
    assert (facts.category, facts.subtype, facts.loss_cny, facts.description) == (
        "accident",
        "traffic",
        3_500_000,
        "货车与大巴相撞",
    )
    assert facts.unknown() == ["casualties"]  # the serious injuries are not known yet


def test_what_a_report_left_unknown() -> None:
    empty = ReportFacts.from_answers({})
    assert empty.unknown() == ["time", "place", "category", "casualties", "loss"]
    assert empty.unknown(("casualties",)) == ["casualties"]
    # a place known by its coordinates alone is known; a loss of True is no amount
    located = ReportFacts.from_answers({"place": {"lat": 30.0, "lon": 120.0}, "loss": True})
    assert "place" not in located.unknown() and "loss" in located.unknown()
    # a flash report's short description is its description
    assert ReportFacts.from_answers({"what": "塌方"}).description == "塌方"


def test_a_followup_changes_only_what_it_answered() -> None:
    before = ReportFacts.from_answers(ANSWERS)
    later = ReportFacts.from_answers(
        {"casualties": {"deaths": 2, "injured": 5, "missing": 0, "serious": 3, "trapped": 0}, "loss": None}
    )
    assert figure_changes(before, later) == [["deaths", 1, 2], ["serious", None, 3]]
    now = updated(before, later)
    assert now.casualties == Casualties(deaths=2, missing=0, serious=3, injured=5, trapped=0)
    assert now.loss_cny == 3_500_000  # an unknown loss leaves the last one standing
    assert now.place == before.place and now.category == "accident"
    # no casualty answer at all: the figures stand, nothing changed
    assert figure_changes(before, ReportFacts.from_answers({})) == []
    assert updated(before, ReportFacts.from_answers({})).casualties == before.casualties


def test_figures_as_the_forms_hold_them() -> None:
    facts = ReportFacts.from_answers(ANSWERS)
    assert facts.figures() == {
        "casualties": {"deaths": 1, "missing": 0, "serious": None, "injured": 5, "trapped": 0},
        "loss": 3_500_000,
    }
    assert "loss" not in ReportFacts.from_answers({}).figures()
    assert casualty_figures(Casualties()) == dict.fromkeys(("deaths", "missing", "serious", "injured", "trapped"))
