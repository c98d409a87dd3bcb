"""The early-warning form (预警发布, domain rules §5), as data: the bulletin's fields, then whom it goes to.
Adjusting a published warning uses the same form, prefilled, without the fields an adjustment keeps
(category, authority, drill, recipients). The review shows the bulletin exactly as recipients will read
it, how many they are and how long the platform's limits take to reach them all."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.domain.categories import BY_CODE
from bot.domain.roles import ROLE_NAMES, Role
from bot.domain.text import N_
from bot.domain.warnings import LEVEL_LABELS, LEVELS, WARNABLE, bulletin
from conversations import parsers as p
from conversations.events import Event
from conversations.form import Answers, Env, Field, Form, Option, Problem, Scope
from conversations.formatting import format_span
from conversations.kinds import Choice, DateTime, FreeText, MultiChoice
from conversations.view import Button, View

CATEGORY_OPTIONS = tuple(Option(code, BY_CODE[code].label) for code in WARNABLE)
LEVEL_OPTIONS = tuple(Option(level.value, LEVEL_LABELS[level]) for level in LEVELS)
YES_NO = (Option("yes", N_("answer.yes")), Option("no", N_("answer.no")))
ROLE_OPTIONS = tuple(Option(role.value, ROLE_NAMES[role]) for role in Role)
ONSET_WINDOW = p.Window(past=timedelta(days=1), future=timedelta(days=30))
EXPIRES_WINDOW = p.Window(past=timedelta(minutes=5), future=timedelta(days=60))


def subtype_options(answers: Answers, env: Env) -> tuple[Option, ...]:
    category = BY_CODE.get(answers.get("category") or "")
    return () if category is None else tuple(Option(code, label) for code, label in category.subtypes)


def unit_options(answers: Answers, env: Env) -> tuple[Option, ...]:
    units = (env.get("base") or {}).get("units") or []
    return tuple(Option(str(unit_id), str(name), literal=True) for unit_id, name in units)


def issuing(answers: Answers, env: Env) -> bool:
    """A new warning (not an adjustment of a published one)."""
    return not env.get("subject")


def has_category(answers: Answers, env: Env) -> bool:
    return issuing(answers, env) and bool(answers.get("category"))


TEXTS: dict[str, tuple[str, str]] = {  # field id -> (label, prompt) catalog ids
    "category": (N_("warning.field.category"), N_("warning.prompt.category")),
    "subtype": (N_("warning.field.subtype"), N_("warning.prompt.subtype")),
    "event": (N_("warning.field.event"), N_("warning.prompt.event")),
    "level": (N_("warning.field.level"), N_("warning.prompt.level")),
    "area": (N_("warning.field.area"), N_("warning.prompt.area")),
    "onset": (N_("warning.field.onset"), N_("warning.prompt.onset")),
    "expires": (N_("warning.field.expires"), N_("warning.prompt.expires")),
    "text": (N_("warning.field.text"), N_("warning.prompt.text")),
    "measures": (N_("warning.field.measures"), N_("warning.prompt.measures")),
    "authority": (N_("warning.field.authority"), N_("warning.prompt.authority")),
    "phone": (N_("warning.field.phone"), N_("warning.prompt.phone")),
    "drill": (N_("warning.field.drill"), N_("warning.prompt.drill")),
    "units": (N_("warning.field.units"), N_("warning.prompt.units")),
    "subunits": (N_("warning.field.subunits"), N_("warning.prompt.subunits")),
    "roles": (N_("warning.field.roles"), N_("warning.prompt.roles")),
    "groups": (N_("warning.field.groups"), N_("warning.prompt.groups")),
}


def _field(field_id: str, kind: Any, **kwargs: Any) -> Field:
    label, prompt = TEXTS[field_id]
    return Field(field_id, kind, label, prompt, **kwargs)


def check(answers: Answers, env: Env) -> Problem | None:
    """The expected end comes after the start."""
    onset, expires = answers.get("onset"), answers.get("expires")
    if onset and expires and datetime.fromisoformat(expires) <= datetime.fromisoformat(onset):
        return Problem("expires", N_("warning.error.expires_before_onset"))
    return None


def fields_of(answers: Answers, env: Env) -> dict[str, Any]:
    """The bulletin's fields from the answers (an adjustment keeps the rest from the published version)."""
    subject = env.get("subject") or {}
    kept = dict(subject.get("before") or {})
    out = {**kept, **{k: v for k, v in answers.items() if k not in ("drill", "units", "subunits", "roles", "groups")}}
    if issuing(answers, env):
        out["drill"] = answers.get("drill") == "yes"
    return out


@dataclass(frozen=True)
class WarningPreview:
    """The bulletin as recipients will see it, and the reach: recipients and the time to reach them all
    (`env["reach"]`, counted by the caller for the answers as they stand)."""

    id: str = "preview"
    screens: tuple[str, ...] = ()

    def result(self, draft: Mapping[str, Any], scope: Scope) -> dict[str, Any]:
        return dict(scope.env.get("reach") or {})

    def lines(self, draft: Mapping[str, Any], scope: Scope) -> list[str]:
        tr = scope.translate
        subject = scope.env.get("subject") or {}
        fields = fields_of(draft["answers"], scope.env)
        if fields.get("level") is None:
            return []
        text = bulletin(
            fields,
            tr("warning.number_pending"),
            None,
            tr,
            scope.tz,
            msg_type="update" if subject else "alert",
            refers=subject.get("number"),
            before=subject.get("before"),
        )
        lines = [tr("warning.preview_title"), "┄┄┄┄┄┄", text, f"[{tr('warning.button.received')}]", "┄┄┄┄┄┄"]
        reach = scope.env.get("reach")
        if reach:
            lines.append(
                tr(
                    "warning.reach",
                    people=reach.get("people", 0),
                    groups=reach.get("groups", 0),
                    time=format_span(float(reach.get("seconds", 0)), tr),
                )
            )
            if reach.get("approval"):
                lines.append(tr("warning.needs_approval"))
        return lines

    def buttons(self, draft: Mapping[str, Any], scope: Scope) -> list[list[Button]]:
        return []

    def render(self, screen: str, draft: Mapping[str, Any], scope: Scope) -> View:
        raise KeyError(screen)

    def handle(self, screen: str | None, draft: dict[str, Any], event: Event, scope: Scope) -> Any:
        return None


WARNING = Form(
    id="warning",
    version=1,
    title=N_("form.warning.title"),
    intro=N_("warning.intro"),
    submit="warning",
    done_text="stored; red and orange wait for a second publisher's approval; published: one delivery per recipient",
    fields=(
        _field("category", Choice(options=CATEGORY_OPTIONS), condition=issuing, condition_text="issuing"),
        _field(
            "subtype",
            Choice(options=subtype_options),
            condition=has_category,
            condition_text="category answered",
            depends_on=("category",),
        ),
        _field("event", FreeText(max_length=30)),
        _field("level", Choice(options=LEVEL_OPTIONS)),
        _field("area", FreeText(max_length=500)),
        _field("onset", DateTime(window=ONSET_WINDOW, quick=(0,), ahead=(6, 12))),
        _field("expires", DateTime(window=EXPIRES_WINDOW, quick=(), ahead=(6, 12, 24, 48))),
        _field("text", FreeText(max_length=1500)),
        _field("measures", FreeText(max_length=1500)),
        _field("authority", FreeText(max_length=200), condition=issuing, condition_text="issuing", prefill="authority"),
        _field("phone", FreeText(max_length=40), required=False),
        _field("drill", Choice(options=YES_NO), condition=issuing, condition_text="issuing"),
        _field("units", MultiChoice(options=unit_options), condition=issuing, condition_text="issuing"),
        _field("subunits", Choice(options=YES_NO), condition=issuing, condition_text="issuing"),
        _field("roles", MultiChoice(options=ROLE_OPTIONS), required=False, condition=issuing, condition_text="issuing"),
        _field("groups", Choice(options=YES_NO), condition=issuing, condition_text="issuing"),
    ),
    validate=check,
    addons=(WarningPreview(),),
)


def targets_of(answers: Answers) -> dict[str, Any]:
    """Whom the answers address: unit ids, with sub-units or not, roles (empty: everyone), duty groups."""
    units = [int(v) for v in (answers.get("units") or {}).get("selected", []) if str(v).isdigit()]
    roles = [r for r in (answers.get("roles") or {}).get("selected", []) if r in {x.value for x in Role}]
    return {
        "units": units,
        "subunits": answers.get("subunits") == "yes",
        "roles": roles,
        "groups": answers.get("groups") == "yes",
    }
