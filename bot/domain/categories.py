"""Event categories and sub-types (domain rules §1), as data."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.text import N_


@dataclass(frozen=True)
class Category:
    code: str
    label: str  # catalog id
    subtypes: tuple[tuple[str, str], ...]  # (code, catalog id)
    pre_warned: bool  # may carry early warnings (§5)
    graded: bool  # has a statutory grade (§2)


CATEGORIES: tuple[Category, ...] = (
    Category(
        "natural",
        N_("category.natural"),
        (
            ("flood_drought", N_("subtype.natural.flood_drought")),
            ("meteorological", N_("subtype.natural.meteorological")),
            ("earthquake", N_("subtype.natural.earthquake")),
            ("geological", N_("subtype.natural.geological")),
            ("marine", N_("subtype.natural.marine")),
            ("biological", N_("subtype.natural.biological")),
            ("forest_fire", N_("subtype.natural.forest_fire")),
        ),
        pre_warned=True,
        graded=True,
    ),
    Category(
        "accident",
        N_("category.accident"),
        (
            ("industrial", N_("subtype.accident.industrial")),
            ("traffic", N_("subtype.accident.traffic")),
            ("public_facility", N_("subtype.accident.public_facility")),
            ("fire", N_("subtype.accident.fire")),
            ("environment", N_("subtype.accident.environment")),
            ("nuclear", N_("subtype.accident.nuclear")),
        ),
        pre_warned=True,
        graded=True,
    ),
    Category(
        "health",
        N_("category.health"),
        (
            ("infectious", N_("subtype.health.infectious")),
            ("unknown_disease", N_("subtype.health.unknown_disease")),
            ("food", N_("subtype.health.food")),
            ("occupational", N_("subtype.health.occupational")),
            ("animal", N_("subtype.health.animal")),
        ),
        pre_warned=True,
        graded=True,
    ),
    Category(
        "social",
        N_("category.social"),
        (
            ("mass_incident", N_("subtype.social.mass_incident")),
            ("criminal", N_("subtype.social.criminal")),
            ("terrorism", N_("subtype.social.terrorism")),
            ("economic", N_("subtype.social.economic")),
            ("foreign", N_("subtype.social.foreign")),
            ("ethnic_religious", N_("subtype.social.ethnic_religious")),
        ),
        pre_warned=False,
        graded=False,
    ),
)

BY_CODE: dict[str, Category] = {c.code: c for c in CATEGORIES}


def subtype_label(category: str, subtype: str) -> str | None:
    cat = BY_CODE.get(category)
    return None if cat is None else dict(cat.subtypes).get(subtype)
