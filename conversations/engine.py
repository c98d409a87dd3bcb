"""The one form engine: walks any Form over a JSON-safe draft. Pure: events in, new draft out.

Modes: fill (a field is asked), review (summary with edit buttons), cancel (confirm), grade (choose a
grade), grade_reason (why the grade differs from the suggestion).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from bot.domain.text import N_
from conversations import parsers as p
from conversations.form import Field, Form, Kind

REVIEW, CANCEL, GRADE, GRADE_REASON = 90, 91, 92, 93  # step codes of screens that are not a field
QUICK_TIMES = (0, 30, 60, 120)  # minutes ago offered as buttons on datetime fields
GRADE_REASON_MAX = 500
QUICK_WORDS = {"none": "无", "unknown": "不详"}  # one-tap answers for casualty and money fields

# navigation: action -> label catalog id (typed labels work like the buttons)
NAV_LABELS: dict[str, str] = {
    "back": N_("button.back"),
    "skip": N_("button.skip"),
    "cancel": N_("button.cancel"),
    "done": N_("button.done"),
    "submit": N_("button.submit"),
    "cancel_yes": N_("button.cancel_yes"),
    "cancel_no": N_("button.cancel_no"),
    "prefill": N_("button.confirm"),
}


@dataclass(frozen=True)
class Context:
    now: datetime
    tz: tzinfo
    translate: Callable[[str], str]
    profile: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Action:
    name: str
    value: str = ""
    step: int | None = None  # the screen the button belonged to; None for typed input


@dataclass(frozen=True)
class Location:
    lat: float
    lon: float


@dataclass(frozen=True)
class Contact:
    name: str
    phone: str


@dataclass(frozen=True)
class Media:
    kind: str  # photo | video | voice | document | audio | video_note
    file_id: str
    file_unique_id: str


@dataclass(frozen=True)
class Unsupported:
    what: str  # sticker, poll, …


Event = Text | Action | Location | Contact | Media | Unsupported


@dataclass
class Outcome:
    draft: dict[str, Any]
    notice: tuple[str, dict[str, Any]] | None = None
    is_error: bool = False
    submit: bool = False
    cancelled: bool = False
    stale: bool = False


def is_answered(f: Field, answers: Mapping[str, Any]) -> bool:
    if f.id not in answers:
        return False
    value = answers[f.id]
    if f.required:
        if f.kind is Kind.MULTI_CHOICE:
            return bool(value and (value.get("selected") or value.get("other")))
        return value not in (None, [], {})
    return True


class Engine:
    def __init__(self, form: Form) -> None:
        self.form = form

    # ---- state -------------------------------------------------------------------------------
    def new_draft(self, token: str, now: datetime) -> dict[str, Any]:
        return {
            "form": self.form.id,
            "token": token,
            "started_at": now.astimezone(UTC).isoformat(),
            "answers": {},
            "cursor": self.form.fields[0].id,
            "mode": "fill",
            "back_to_review": False,
            "prev_mode": None,
            "grade": None,
            "pending_grade": None,
        }

    def step_code(self, draft: Mapping[str, Any]) -> int:
        mode = draft["mode"]
        if mode == "fill":
            return self.form.index(draft["cursor"])
        return {"review": REVIEW, "cancel": CANCEL, "grade": GRADE, "grade_reason": GRADE_REASON}[mode]

    def expected(self, answers: Mapping[str, Any]) -> list[Field]:
        """The steps this draft will have: the visible ones, and those waiting on an answer not given yet
        (the sub-type before the category is chosen), so "step 1 of N" does not change N on the way."""
        return [f for f in self.form.fields if f.visible(answers) or any(d not in answers for d in f.depends_on)]

    def position(self, draft: Mapping[str, Any]) -> tuple[int, int]:
        """(step number, expected steps) of the current field, 1-based."""
        steps = [f.id for f in self.expected(draft["answers"])]
        cursor = draft.get("cursor")
        return (steps.index(cursor) + 1 if cursor in steps else len(steps)), len(steps)

    def current_field(self, draft: Mapping[str, Any]) -> Field | None:
        return self.form.field(draft["cursor"]) if draft["mode"] == "fill" else None

    def suggested_grade(self, answers: Mapping[str, Any]) -> str | None:
        return self.form.suggest_grade(answers) if self.form.suggest_grade else None

    def grade(self, draft: Mapping[str, Any]) -> tuple[str | None, str | None]:
        """(grade, reason): the reporter's override when there is one, else the suggestion."""
        override = draft.get("grade")
        if override:
            return override["value"], override["reason"]
        return self.suggested_grade(draft["answers"]), None

    def missing(self, draft: Mapping[str, Any]) -> Field | None:
        for f in self.form.visible(draft["answers"]):
            if not is_answered(f, draft["answers"]):
                return f
        return None

    # ---- events ------------------------------------------------------------------------------
    def handle(self, draft: Mapping[str, Any], event: Event, ctx: Context) -> Outcome:
        d = copy.deepcopy(dict(draft))
        if isinstance(event, Text):
            event = self._typed_action(d, event, ctx) or event
        if isinstance(event, Action):
            if event.step is not None and event.step != self.step_code(d) and event.name != "cancel":
                return Outcome(d, (N_("common.stale_button"), {}), is_error=True, stale=True)
            return self._action(d, event, ctx)
        mode = d["mode"]
        if mode == "fill":
            return self._input(d, self.form.field(d["cursor"]), event, ctx)
        if mode == "grade_reason" and isinstance(event, Text):
            reason = event.text.strip()
            if not reason:
                return self._error(d, N_("error.text_empty"))
            if len(reason) > GRADE_REASON_MAX:
                return self._error(d, N_("error.text_too_long"), max=GRADE_REASON_MAX, length=len(reason))
            d["grade"] = {"value": d.pop("pending_grade"), "reason": reason}
            d["pending_grade"] = None
            d["mode"] = "review"
            return Outcome(d)
        return self._error(d, N_("error.use_buttons"))

    def _typed_action(self, d: dict[str, Any], event: Text, ctx: Context) -> Action | None:
        typed = p.normalize(event.text).lstrip("/")
        if not typed:
            return None
        for action, label in NAV_LABELS.items():
            words = {p.normalize(ctx.translate(label)), action}
            words |= {re.sub(r"^[^\w]+\s*", "", w) for w in words}
            if typed in words and self._nav_allowed(d, action):
                return Action(action)
        return None

    def _nav_allowed(self, d: Mapping[str, Any], action: str) -> bool:
        mode = d["mode"]
        if action == "cancel":
            return mode != "cancel"
        if mode == "cancel":
            return action in ("cancel_yes", "cancel_no")
        if mode == "review":
            return action in ("submit", "back")
        if mode in ("grade", "grade_reason"):
            return action == "back"
        f = self.form.field(d["cursor"])
        return {
            "back": True,
            "skip": True,  # on a required field the engine answers "required" instead of storing the word
            "done": f.kind in (Kind.MULTI_CHOICE, Kind.LOCATION, Kind.ATTACHMENTS),
            "prefill": f.prefill is not None,
        }.get(action, False)

    def _action(self, d: dict[str, Any], a: Action, ctx: Context) -> Outcome:
        mode = d["mode"]
        if a.name == "cancel":
            if mode != "cancel":
                d["prev_mode"], d["mode"] = mode, "cancel"
            return Outcome(d)
        if mode == "cancel":
            if a.name == "cancel_yes":
                return Outcome(d, cancelled=True)
            if a.name == "cancel_no":
                d["mode"], d["prev_mode"] = d.get("prev_mode") or "fill", None
                return Outcome(d)
        elif mode == "review":
            return self._review_action(d, a)
        elif mode == "grade":
            if a.name == "back":
                d["mode"] = "review"
                return Outcome(d)
            if a.name == "set_grade" and a.value in self.grade_options():
                if a.value == self.suggested_grade(d["answers"]):
                    d["grade"], d["mode"] = None, "review"
                else:
                    d["pending_grade"], d["mode"] = a.value, "grade_reason"
                return Outcome(d)
        elif mode == "grade_reason":
            if a.name == "back":
                d["mode"], d["pending_grade"] = "grade", None
                return Outcome(d)
        else:
            return self._field_action(d, self.form.field(d["cursor"]), a, ctx)
        return Outcome(d, (N_("common.stale_button"), {}), is_error=True, stale=True)

    def grade_options(self) -> tuple[str, ...]:
        return ("I", "II", "III", "IV", "ungraded")

    def _review_action(self, d: dict[str, Any], a: Action) -> Outcome:
        if a.name == "submit":
            missing = self.missing(d)
            if missing is not None:
                d.update(mode="fill", cursor=missing.id, back_to_review=True)
                return self._error(d, N_("error.required_missing"))
            return Outcome(d, submit=True)
        if a.name == "edit" and a.value in {f.id for f in self.form.visible(d["answers"])}:
            d.update(mode="fill", cursor=a.value, back_to_review=True)
            return Outcome(d)
        if a.name == "grade" and self.form.suggest_grade is not None:
            d["mode"] = "grade"
            return Outcome(d)
        if a.name == "back":
            d.update(mode="fill", cursor=self.form.visible(d["answers"])[-1].id, back_to_review=False)
            return Outcome(d)
        return Outcome(d, (N_("common.stale_button"), {}), is_error=True, stale=True)

    def _field_action(self, d: dict[str, Any], f: Field, a: Action, ctx: Context) -> Outcome:
        answers = d["answers"]
        if a.name == "back":
            return self._back(d)
        if a.name == "skip":
            if f.required:
                return self._error(d, N_("error.required"))
            answers[f.id] = None
            return self._advance(d)
        if a.name == "choose" and f.kind is Kind.CHOICE:
            if a.value not in {o.value for o in f.options_for(answers)}:
                return Outcome(d, (N_("common.stale_button"), {}), is_error=True, stale=True)
            answers[f.id] = a.value
            return self._advance(d)
        if a.name == "toggle" and f.kind is Kind.MULTI_CHOICE:
            if a.value not in {o.value for o in f.options_for(answers)}:
                return Outcome(d, (N_("common.stale_button"), {}), is_error=True, stale=True)
            current = answers.get(f.id) or {"selected": [], "other": None}
            selected = current["selected"]
            if a.value in selected:
                selected.remove(a.value)
            else:
                selected.append(a.value)
            answers[f.id] = current
            return Outcome(d)
        if a.name == "done" and f.kind in (Kind.MULTI_CHOICE, Kind.LOCATION, Kind.ATTACHMENTS):
            if f.required and not is_answered(f, answers):
                return self._error(d, N_("error.required"))
            answers.setdefault(f.id, None)
            return self._advance(d)
        if a.name == "quick" and f.kind is Kind.DATETIME:
            if a.value == "other":
                return Outcome(d, (N_("hint.time_formats"), {}))
            if not a.value.isdigit() or int(a.value) not in QUICK_TIMES:
                return Outcome(d, (N_("common.stale_button"), {}), is_error=True, stale=True)
            answers[f.id] = (ctx.now - timedelta(minutes=int(a.value))).astimezone(UTC).isoformat()
            return self._advance(d)
        if a.name == "quick" and f.kind in (Kind.CASUALTIES, Kind.MONEY) and a.value in QUICK_WORDS:
            return self._text(d, f, QUICK_WORDS[a.value], ctx)
        if a.name == "prefill" and f.prefill and ctx.profile.get(f.prefill):
            answers[f.id] = dict(ctx.profile[f.prefill])
            return self._advance(d)
        return Outcome(d, (N_("common.stale_button"), {}), is_error=True, stale=True)

    def _input(self, d: dict[str, Any], f: Field, event: Event, ctx: Context) -> Outcome:
        answers = d["answers"]
        if isinstance(event, Location):
            if f.kind is not Kind.LOCATION:
                return self._wrong_type(d, f, ctx)
            if not (-90 <= event.lat <= 90 and -180 <= event.lon <= 180):
                return self._error(d, N_("error.location_invalid"))
            answers[f.id] = {**(answers.get(f.id) or {}), "lat": event.lat, "lon": event.lon}
            if answers[f.id].get("text"):
                return self._advance(d)
            return Outcome(d, (N_("notice.location_received"), {}))
        if isinstance(event, Contact):
            if f.kind is not Kind.CONTACT:
                return self._wrong_type(d, f, ctx)
            answers[f.id] = {"name": event.name[:100], "phone": event.phone[:32]}
            return self._advance(d)
        if isinstance(event, Media):
            if f.kind is not Kind.ATTACHMENTS:
                return self._wrong_type(d, f, ctx)
            items = list(answers.get(f.id) or [])
            if any(i["file_unique_id"] == event.file_unique_id for i in items):
                return Outcome(d, (N_("notice.attachment_added"), {"count": len(items)}))
            if len(items) >= f.max_items:
                return self._error(d, N_("error.attachments_full"), max=f.max_items)
            items.append({"kind": event.kind, "file_id": event.file_id, "file_unique_id": event.file_unique_id})
            answers[f.id] = items
            return Outcome(d, (N_("notice.attachment_added"), {"count": len(items)}))
        if isinstance(event, Unsupported) or not isinstance(event, Text):
            return self._wrong_type(d, f, ctx)
        return self._text(d, f, event.text, ctx)

    def _text(self, d: dict[str, Any], f: Field, text: str, ctx: Context) -> Outcome:
        answers = d["answers"]
        stripped = text.strip()
        if f.kind is Kind.ATTACHMENTS:
            return self._wrong_type(d, f, ctx)
        if not stripped:
            return self._error(d, N_("error.text_empty"))
        if len(stripped) > max(f.max_length, 200):
            return self._error(d, N_("error.text_too_long"), max=f.max_length, length=len(stripped))
        result: Any
        if f.kind is Kind.TEXT:
            if len(stripped) > f.max_length:
                return self._error(d, N_("error.text_too_long"), max=f.max_length, length=len(stripped))
            answers[f.id] = stripped
        elif f.kind is Kind.LOCATION:
            answers[f.id] = {**(answers.get(f.id) or {}), "text": stripped}
        elif f.kind is Kind.CHOICE:
            options = f.options_for(answers)
            match = self._match_options(stripped, options, ctx)
            if len(match) != 1:
                return self._choice_error(d, options, ctx)
            answers[f.id] = match[0]
        elif f.kind is Kind.MULTI_CHOICE:
            options = f.options_for(answers)
            parts = [x for x in re.split(r"[,，、;；\s]+", stripped) if x]
            matched = [self._match_options(x, options, ctx) for x in parts]
            if parts and all(len(m) == 1 for m in matched):
                answers[f.id] = {"selected": list(dict.fromkeys(m[0] for m in matched)), "other": None}
            elif f.allow_text:
                current = answers.get(f.id) or {"selected": [], "other": None}
                answers[f.id] = {"selected": current["selected"], "other": stripped}
            else:
                return self._choice_error(d, options, ctx)
        elif f.kind is Kind.INTEGER:
            result = p.parse_count(stripped)
            if isinstance(result, p.Invalid):
                return self._error(d, result.msgid, **result.params)
            answers[f.id] = result.value
        elif f.kind is Kind.CASUALTIES:
            result = p.parse_casualties(stripped)
            if isinstance(result, p.Invalid):
                params = dict(result.params)
                if "what" in params:
                    params["what"] = ctx.translate(CASUALTY_LABELS[params["what"]])
                return self._error(d, CASUALTY_ERRORS.get(result.msgid, result.msgid) if "what" in params
                                   else result.msgid, **params)  # fmt: skip
            base = answers.get(f.id) or dict.fromkeys(p.CASUALTY_KEYS)
            answers[f.id] = {**base, **result.value}
        elif f.kind is Kind.MONEY:
            result = p.parse_money(stripped)
            if isinstance(result, p.Invalid):
                return self._error(d, result.msgid, **result.params)
            answers[f.id] = "unknown" if result.value is None else result.value
        elif f.kind is Kind.DATETIME:
            result = p.parse_datetime(stripped, ctx.now, ctx.tz)
            if isinstance(result, p.Invalid):
                return self._error(d, result.msgid, **result.params)
            answers[f.id] = result.value.astimezone(UTC).isoformat()
        elif f.kind is Kind.CONTACT:
            result = p.parse_contact(stripped)
            if isinstance(result, p.Invalid):
                return self._error(d, result.msgid, **result.params)
            answers[f.id] = result.value
        return self._advance(d)

    @staticmethod
    def _match_options(text: str, options: tuple[Any, ...], ctx: Context) -> list[str]:
        typed = p.normalize(text).rstrip(".。")
        if typed.isdigit() and 1 <= int(typed) <= len(options):
            return [options[int(typed) - 1].value]
        exact = [o.value for o in options if typed in (p.normalize(ctx.translate(o.label)), o.value)]
        if exact:
            return exact
        return [o.value for o in options if typed and typed in p.normalize(ctx.translate(o.label))]

    def _choice_error(self, d: dict[str, Any], options: tuple[Any, ...], ctx: Context) -> Outcome:
        listing = " / ".join(f"{i}. {ctx.translate(o.label)}" for i, o in enumerate(options, 1))
        return self._error(d, N_("error.choice_unknown"), options=listing)

    def _wrong_type(self, d: dict[str, Any], f: Field, ctx: Context) -> Outcome:
        return self._error(d, N_("error.wrong_type"), expected=ctx.translate(KIND_EXPECTS[f.kind]))

    @staticmethod
    def _error(d: dict[str, Any], msgid: str, **params: Any) -> Outcome:
        return Outcome(d, (msgid, params), is_error=True)

    # ---- moving ------------------------------------------------------------------------------
    def _drop_invalid(self, answers: dict[str, Any]) -> None:
        for f in self.form.fields:
            stale_choice = f.kind is Kind.CHOICE and f.depends_on
            if f.id in answers and stale_choice and answers[f.id] not in {o.value for o in f.options_for(answers)}:
                del answers[f.id]
            if f.id in answers and not f.visible(answers):
                del answers[f.id]

    def _advance(self, d: dict[str, Any]) -> Outcome:
        self._drop_invalid(d["answers"])
        visible = self.form.visible(d["answers"])
        if d["back_to_review"]:
            missing = self.missing(d)
            if missing is not None:
                d["cursor"] = missing.id
            else:
                d.update(mode="review", back_to_review=False)
            return Outcome(d)
        ids = [f.id for f in visible]
        i = ids.index(d["cursor"]) if d["cursor"] in ids else -1
        if i + 1 < len(ids):
            d["cursor"] = ids[i + 1]
        else:
            d["mode"] = "review"
        return Outcome(d)

    def _back(self, d: dict[str, Any]) -> Outcome:
        if d["back_to_review"] and self.missing(d) is None:
            d.update(mode="review", back_to_review=False)
            return Outcome(d)
        ids = [f.id for f in self.form.visible(d["answers"])]
        i = ids.index(d["cursor"]) if d["cursor"] in ids else 0
        if i == 0:
            return Outcome(d, (N_("notice.first_step"), {}))
        d["cursor"] = ids[i - 1]
        return Outcome(d)


CASUALTY_LABELS: dict[str, str] = {
    "deaths": N_("casualty.deaths"),
    "missing": N_("casualty.missing"),
    "serious": N_("casualty.serious"),
    "injured": N_("casualty.injured"),
    "trapped": N_("casualty.trapped"),
}
CASUALTY_ERRORS: dict[str, str] = {
    "error.count_negative": N_("error.casualty_negative"),
    "error.count_decimal": N_("error.casualty_decimal"),
    "error.count_absurd": N_("error.casualty_absurd"),
    "error.count_format": N_("error.casualty_format"),
}
KIND_EXPECTS: dict[Kind, str] = {
    Kind.CHOICE: N_("expects.choice"),
    Kind.MULTI_CHOICE: N_("expects.choice"),
    Kind.TEXT: N_("expects.text"),
    Kind.INTEGER: N_("expects.number"),
    Kind.CASUALTIES: N_("expects.casualties"),
    Kind.MONEY: N_("expects.money"),
    Kind.DATETIME: N_("expects.datetime"),
    Kind.LOCATION: N_("expects.location"),
    Kind.CONTACT: N_("expects.contact"),
    Kind.ATTACHMENTS: N_("expects.attachments"),
}
