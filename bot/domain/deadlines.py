"""Statutory clocks (domain rules §4) as data. Each is a default an office may change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.text import N_


@dataclass(frozen=True)
class Deadline:
    code: str
    label: str  # catalog id
    after: timedelta
    source: str


DEADLINES: dict[str, Deadline] = {
    d.code: d
    for d in (
        Deadline("initial", N_("deadline.initial"), timedelta(hours=2), "local rules: 初报 within 2 h"),
        Deadline("first_followup", N_("deadline.first_followup"), timedelta(hours=72), "insurance notice: 72 h"),
    )
}


def due(code: str, occurred_at: datetime) -> datetime:
    return occurred_at + DEADLINES[code].after
