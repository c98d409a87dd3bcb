"""Suggested severity grade (domain rules §2): table-driven, pure.

Any one criterion reaches a grade; a criterion is a conjunction of `metric >= minimum` terms
("N以上" includes N). Unknown figures count as no evidence (0). Below grade III everything is IV.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from bot.domain.text import N_


class Grade(StrEnum):
    I = "I"  # noqa: E741 - the statutory name
    II = "II"
    III = "III"
    IV = "IV"
    UNGRADED = "ungraded"


GRADE_LABELS: dict[Grade, str] = {
    Grade.I: N_("grade.I"),
    Grade.II: N_("grade.II"),
    Grade.III: N_("grade.III"),
    Grade.IV: N_("grade.IV"),
    Grade.UNGRADED: N_("grade.ungraded"),
}
GRADE_ORDER = (Grade.I, Grade.II, Grade.III, Grade.IV)

Criterion = tuple[tuple[str, int], ...]  # all terms must hold
M = 10_000  # 万
Y = 100_000_000  # 亿

# scheme -> grade -> criteria (any one suffices). Metrics: see metrics() below.
SCHEMES: dict[str, dict[Grade, tuple[Criterion, ...]]] = {
    # State Council order 493, art. 3 (production-safety accidents)
    "production_safety": {
        Grade.I: ((("dead", 30),), (("serious", 100),), (("loss", 1 * Y),)),
        Grade.II: ((("dead", 10),), (("serious", 50),), (("loss", 5000 * M),)),
        Grade.III: ((("dead", 3),), (("serious", 10),), (("loss", 1000 * M),)),
    },
    # National environmental emergency plan (2014); evacuations are not asked in the initial report.
    "environment": {
        Grade.I: ((("dead", 30),), (("serious", 100),), (("loss", 1 * Y),)),
        Grade.II: ((("dead", 10),), (("serious", 50),), (("loss", 2000 * M),)),
        Grade.III: ((("dead", 3),), (("serious", 10),), (("loss", 500 * M),)),
    },
    "geological": {
        Grade.I: ((("dead", 30),), (("loss", 1000 * M),)),
        Grade.II: ((("dead", 10),), (("loss", 500 * M),)),
        Grade.III: ((("dead", 3),), (("loss", 100 * M),)),
    },
    "earthquake": {
        Grade.I: ((("dead", 300),),),
        Grade.II: ((("dead", 50),),),
        Grade.III: ((("dead", 10),),),
    },
    # II: ≥10 deaths, or >100 poisoned with deaths; III: >100 poisoned or any death; IV otherwise.
    "food_poisoning": {
        Grade.II: ((("deaths", 10),), (("poisoned", 101), ("deaths", 1))),
        Grade.III: ((("poisoned", 101),), (("deaths", 1),)),
    },
}

# Which scheme applies: sub-type first, then category. None: no statutory grade (未分级).
# natural/health fall back to the production-safety thresholds: our default policy, configurable.
SCHEME_BY_SUBTYPE: dict[str, str] = {
    "natural.geological": "geological",
    "natural.earthquake": "earthquake",
    "accident.environment": "environment",
    "health.food": "food_poisoning",
}
SCHEME_BY_CATEGORY: dict[str, str | None] = {
    "natural": "production_safety",
    "accident": "production_safety",
    "health": "production_safety",
    "social": None,
}


@dataclass(frozen=True)
class Casualties:
    deaths: int | None = None
    missing: int | None = None
    serious: int | None = None
    injured: int | None = None
    trapped: int | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, int | None] | None) -> Casualties:
        data = data or {}
        return cls(**{k: data.get(k) for k in ("deaths", "missing", "serious", "injured", "trapped")})


def metrics(casualties: Casualties, loss: int | None) -> dict[str, int]:
    c = casualties

    def known(v: int | None) -> int:
        return v or 0  # unknown is no evidence

    return {
        "deaths": known(c.deaths),
        "dead": known(c.deaths) + known(c.missing),  # deaths include the missing (§2)
        "serious": known(c.serious),
        "poisoned": known(c.deaths) + known(c.serious) + known(c.injured),
        "loss": known(loss),
    }


def scheme_for(category: str, subtype: str | None) -> str | None:
    if subtype and f"{category}.{subtype}" in SCHEME_BY_SUBTYPE:
        return SCHEME_BY_SUBTYPE[f"{category}.{subtype}"]
    return SCHEME_BY_CATEGORY.get(category)


def suggest_grade(category: str, subtype: str | None, casualties: Casualties, loss: int | None) -> Grade:
    """The grade the reported figures reach; 未分级 where no statutory scheme applies."""
    scheme = scheme_for(category, subtype)
    if scheme is None:
        return Grade.UNGRADED
    values = metrics(casualties, loss)
    for grade in GRADE_ORDER[:-1]:
        for criterion in SCHEMES[scheme].get(grade, ()):
            if all(values[metric] >= minimum for metric, minimum in criterion):
                return grade
    return Grade.IV


def at_least(grade: Grade | str, floor: Grade) -> bool:
    """True when grade is `floor` or more severe (未分级 is never)."""
    g = Grade(grade)
    return g in GRADE_ORDER and GRADE_ORDER.index(g) <= GRADE_ORDER.index(floor)
