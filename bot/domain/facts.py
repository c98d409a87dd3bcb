"""A report's facts as a typed record: what every filer, the desk, the statistics and the exports read, instead of
the form's answer dictionary (domain rules §4, the key elements: time, place, category, casualties, loss).

Forms keep their answers as they asked them (`{"casualties": {"deaths": 1, …}, "loss": 3500000, "place": {"text": …,
"lat": …, "lon": …}, "occurred_at": "2026-…"}`); this module is the one place that reads them. The incident's
columns are mapped to and from these facts in one place too (storage.models.Incident.facts / take_facts). Pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from bot.domain.grading import Casualties

# the casualty figures as forms and cards name them, in the order cards show them
CASUALTY_KEYS: tuple[str, ...] = tuple(f.name for f in fields(Casualties))
# the key elements a report may leave unknown (漏报 of an element, domain rules §4)
KEY_ELEMENTS: tuple[str, ...] = ("time", "place", "category", "casualties", "loss")


@dataclass(frozen=True)
class Place:
    text: str | None = None
    lat: float | None = None
    lon: float | None = None

    @property
    def known(self) -> bool:
        return bool(self.text) or self.lat is not None


def casualties_of(value: Any) -> Casualties | None:
    """The casualty figures of a form's answer (None: not answered at all)."""
    if not isinstance(value, Mapping):
        return None
    return Casualties(**{k: _count(value.get(k)) for k in CASUALTY_KEYS})


def casualty_figures(casualties: Casualties) -> dict[str, int | None]:
    """The figures as forms and cards hold them."""
    return {k: getattr(casualties, k) for k in CASUALTY_KEYS}


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


@dataclass(frozen=True)
class ReportFacts:
    """What a report says of its incident. A figure or loss of None is unknown; `casualties` is None when the
    report did not answer casualties at all (a follow-up that leaves them as they were)."""

    category: str | None = None
    subtype: str | None = None
    occurred_at: datetime | None = None
    received_at: datetime | None = None  # a phone report: when the call came
    place: Place = field(default_factory=Place)
    casualties: Casualties | None = None
    loss_cny: int | None = None
    description: str | None = None

    @classmethod
    def from_answers(cls, answers: Mapping[str, Any]) -> ReportFacts:
        place = answers.get("place")
        place = place if isinstance(place, Mapping) else {}
        description = answers.get("description") or answers.get("what")
        return cls(
            category=answers.get("category") or None,
            subtype=answers.get("subtype") or None,
            occurred_at=_time(answers.get("occurred_at")),
            received_at=_time(answers.get("received_at")),
            place=Place(place.get("text") or None, place.get("lat"), place.get("lon")),
            casualties=casualties_of(answers.get("casualties")),
            loss_cny=_count(answers.get("loss")),
            description=str(description) if description else None,
        )

    @property
    def known_casualties(self) -> Casualties:
        return self.casualties or Casualties()

    def figures(self) -> dict[str, Any]:
        """The casualty and loss figures as the forms hold them (a follow-up form starts from these)."""
        found: dict[str, Any] = {"casualties": casualty_figures(self.known_casualties)}
        if self.loss_cny is not None:
            found["loss"] = self.loss_cny
        return found

    def unknown(self, keys: Sequence[str] = KEY_ELEMENTS) -> list[str]:
        """The key elements (of `keys`) this report left unknown."""
        missing = {
            "time": self.occurred_at is None,
            "place": not self.place.known,
            "category": not self.category,
            "casualties": self.casualties is None or any(v is None for v in casualty_figures(self.casualties).values()),
            "loss": self.loss_cny is None,
        }
        return [key for key in KEY_ELEMENTS if key in keys and missing[key]]


def figure_changes(before: ReportFacts, after: ReportFacts) -> list[list[Any]]:
    """What a later report changed of the figures: [key, before, after] for each casualty figure it answered
    differently and for a loss it gave (an unknown loss leaves the last one standing)."""
    changes: list[list[Any]] = []
    if after.casualties is not None:
        old, new = casualty_figures(before.known_casualties), casualty_figures(after.casualties)
        changes += [[key, old[key], new[key]] for key in CASUALTY_KEYS if new[key] != old[key]]
    if after.loss_cny is not None and after.loss_cny != before.loss_cny:
        changes.append(["loss", before.loss_cny, after.loss_cny])
    return changes


def updated(before: ReportFacts, after: ReportFacts) -> ReportFacts:
    """The incident's figures after a later report: the casualties it answered, its loss when known."""
    return ReportFacts(
        category=before.category,
        subtype=before.subtype,
        occurred_at=before.occurred_at,
        place=before.place,
        casualties=after.casualties if after.casualties is not None else before.casualties,
        loss_cny=after.loss_cny if after.loss_cny is not None else before.loss_cny,
        description=before.description,
    )
