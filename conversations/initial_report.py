"""The initial report (初报) form: domain rules §3, as data."""

from __future__ import annotations

from bot.domain.categories import BY_CODE, CATEGORIES
from bot.domain.grading import Casualties, suggest_grade
from bot.domain.text import N_
from conversations.addons import SuggestedGrade
from conversations.form import Answers, Env, Field, Form, Option
from conversations.kinds import (
    Attachments,
    CasualtyFigures,
    Choice,
    DateTime,
    FieldKind,
    FreeText,
    Money,
    MultiChoice,
    Person,
    Place,
)

CATEGORY_OPTIONS = tuple(Option(c.code, c.label) for c in CATEGORIES)

SOURCE_OPTIONS = (
    Option("scene", N_("source.scene")),
    Option("public", N_("source.public")),
    Option("hotline", N_("source.hotline")),
    Option("monitoring", N_("source.monitoring")),
    Option("department", N_("source.department")),
    Option("media", N_("source.media")),
)


def subtype_options(answers: Answers, env: Env) -> tuple[Option, ...]:
    category = BY_CODE.get(answers.get("category") or "")
    return () if category is None else tuple(Option(code, label) for code, label in category.subtypes)


def has_category(answers: Answers, env: Env) -> bool:
    return bool(answers.get("category"))


def grade_of(answers: Answers) -> str:
    """The suggested grade of a report's answers (category, sub-type, casualties, loss)."""
    loss = answers.get("loss")
    return suggest_grade(
        answers.get("category") or "",
        answers.get("subtype"),
        Casualties.from_mapping(answers.get("casualties")),
        loss if isinstance(loss, int) else None,
    ).value


TEXTS: dict[str, tuple[str, str]] = {  # field id -> (label, prompt) catalog ids, for every report form
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
    "what": (N_("field.what.label"), N_("field.what.prompt")),
    "course": (N_("field.course.label"), N_("field.course.prompt")),
    "situation": (N_("field.situation.label"), N_("field.situation.prompt")),
    "consequences": (N_("field.consequences.label"), N_("field.consequences.prompt")),
    "correction": (N_("field.correction.label"), N_("field.correction.prompt")),
    "next_steps": (N_("field.next_steps.label"), N_("field.next_steps.prompt")),
    "handling": (N_("field.handling.label"), N_("field.handling.prompt")),
    "caller": (N_("field.caller.label"), N_("field.caller.prompt")),
    "received_at": (N_("field.received_at.label"), N_("field.received_at.prompt")),
    "impact": (N_("field.impact.label"), N_("field.impact.prompt")),
    "lessons": (N_("field.lessons.label"), N_("field.lessons.prompt")),
    "prevention": (N_("field.prevention.label"), N_("field.prevention.prompt")),
}


def field(field_id: str, kind: FieldKind, **kwargs: object) -> Field:
    """A field with its label and prompt from TEXTS."""
    label, prompt = TEXTS[field_id]
    return Field(field_id, kind, label, prompt, **kwargs)  # type: ignore[arg-type]


# Fields shared with the flash report.
OCCURRED_AT = field("occurred_at", DateTime())
PLACE = field("place", Place(max_length=500))
CATEGORY = field("category", Choice(options=CATEGORY_OPTIONS))
SUBTYPE = field(
    "subtype",
    Choice(options=subtype_options),
    condition=has_category,
    condition_text="category answered",
    depends_on=("category",),
)
CASUALTIES = field("casualties", CasualtyFigures())
ATTACHMENTS = field("attachments", Attachments(max_items=10), required=False)

INITIAL_REPORT = Form(
    id="initial",
    version=2,
    title=N_("form.initial.title"),
    intro=N_("report.intro"),
    submit="initial_report",
    done_text="stored, duty group alerted",
    fields=(
        OCCURRED_AT,
        PLACE,
        field("source", MultiChoice(options=SOURCE_OPTIONS, allow_text=True, max_length=300)),
        CATEGORY,
        SUBTYPE,
        field("description", FreeText(max_length=3000)),
        field("units_involved", FreeText(max_length=500), required=False),
        CASUALTIES,
        field("loss", Money(), required=False),
        field("measures", FreeText(max_length=3000)),
        field("responsible", Person(), prefill="profile_contact"),
        ATTACHMENTS,
    ),
    addons=(SuggestedGrade(grade_of),),
)
