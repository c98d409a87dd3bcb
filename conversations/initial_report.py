"""The initial report (初报) form: domain rules §3, as data."""

from __future__ import annotations

from bot.domain.categories import BY_CODE, CATEGORIES
from bot.domain.grading import Casualties, suggest_grade
from bot.domain.text import N_
from conversations.form import Answers, Field, Form, Kind, Option

CATEGORY_OPTIONS = tuple(Option(c.code, c.label) for c in CATEGORIES)

SOURCE_OPTIONS = (
    Option("scene", N_("source.scene")),
    Option("public", N_("source.public")),
    Option("hotline", N_("source.hotline")),
    Option("monitoring", N_("source.monitoring")),
    Option("department", N_("source.department")),
    Option("media", N_("source.media")),
)


def subtype_options(answers: Answers) -> tuple[Option, ...]:
    category = BY_CODE.get(answers.get("category") or "")
    return () if category is None else tuple(Option(code, label) for code, label in category.subtypes)


def _suggest(answers: Answers) -> str:
    loss = answers.get("loss")
    return suggest_grade(
        answers.get("category") or "",
        answers.get("subtype"),
        Casualties.from_mapping(answers.get("casualties")),
        loss if isinstance(loss, int) else None,
    ).value


def _p(field_id: str) -> tuple[str, str]:
    return {
        "occurred_at": (N_("field.occurred_at.label"), N_("field.occurred_at.prompt")),
        "place": (N_("field.place.label"), N_("field.place.prompt")),
        "source": (N_("field.source.label"), N_("field.source.prompt")),
        "category": (N_("field.category.label"), N_("field.category.prompt")),
        "subtype": (N_("field.subtype.label"), N_("field.subtype.prompt")),
        "description": (N_("field.description.label"), N_("field.description.prompt")),
        "units_involved": (N_("field.units_involved.label"), N_("field.units_involved.prompt")),
        "casualties": (N_("field.casualties.label"), N_("field.casualties.prompt")),
        "loss": (N_("field.loss.label"), N_("field.loss.prompt")),
        "measures": (N_("field.measures.label"), N_("field.measures.prompt")),
        "responsible": (N_("field.responsible.label"), N_("field.responsible.prompt")),
        "attachments": (N_("field.attachments.label"), N_("field.attachments.prompt")),
    }[field_id]


def _field(field_id: str, kind: Kind, **kwargs: object) -> Field:
    label, prompt = _p(field_id)
    return Field(field_id, kind, label, prompt, **kwargs)  # type: ignore[arg-type]


INITIAL_REPORT = Form(
    id="initial",
    title=N_("form.initial.title"),
    fields=(
        _field("occurred_at", Kind.DATETIME),
        _field("place", Kind.LOCATION, max_length=500),
        _field("source", Kind.MULTI_CHOICE, options=SOURCE_OPTIONS, allow_text=True, max_length=300),
        _field("category", Kind.CHOICE, options=CATEGORY_OPTIONS),
        _field(
            "subtype",
            Kind.CHOICE,
            options=subtype_options,
            condition=lambda a: bool(a.get("category")),
            condition_text="category answered",
            depends_on=("category",),
        ),
        _field("description", Kind.TEXT, max_length=3000),
        _field("units_involved", Kind.TEXT, required=False, max_length=500),
        _field("casualties", Kind.CASUALTIES),
        _field("loss", Kind.MONEY, required=False),
        _field("measures", Kind.TEXT, max_length=3000),
        _field("responsible", Kind.CONTACT, prefill="profile_contact"),
        _field("attachments", Kind.ATTACHMENTS, required=False, max_items=10),
    ),
    suggest_grade=_suggest,
)

FORMS: dict[str, Form] = {INITIAL_REPORT.id: INITIAL_REPORT}
