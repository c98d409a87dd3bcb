"""The one form engine: walks any Form over a JSON-safe draft. Pure: events in, new draft out.

Screens: "fill" (a field is asked), "review" (every answer, an edit button each), "cancel" (confirm),
and the screens of the form's review add-ons ("<addon>.<screen>"). What each field accepts is its
kind's business (conversations/kinds.py); the engine moves between fields and screens.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

from bot.domain import jsoncodec
from bot.domain.text import N_
from conversations import parsers as p
from conversations.events import Action, Contact, Event, Location, Media, Text, Unsupported
from conversations.form import Field, Form, Move, Scope
from conversations.formatting import MEDIA_LABELS
from conversations.kinds import Attachments, Change, Notice

REVIEW, CANCEL = 90, 91  # step codes of screens that are not a field
ADDON_STEPS = 100  # add-on screens: 100 + 10 * add-on index + screen index

# navigation: action -> label catalog id (typed labels work like the buttons)
NAV_LABELS: dict[str, str] = {
    "back": N_("button.back"),
    "skip": N_("button.skip"),
    "cancel": N_("button.cancel"),
    "done": N_("button.done"),
    "keep": N_("button.keep"),
    "submit": N_("button.submit"),
    "cancel_yes": N_("button.cancel_yes"),
    "cancel_no": N_("button.cancel_no"),
    "prefill": N_("button.confirm"),
}


@dataclass(frozen=True)
class Context:
    """What the caller supplies: the time, the reader's zone and language, and data for options and
    prefills (the reporter's profile, their open incidents…), read by the fields through `env`."""

    now: datetime
    tz: tzinfo
    translate: Callable[..., str]
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    draft: dict[str, Any]
    notice: tuple[str, dict[str, Any]] | None = None
    is_error: bool = False
    submit: bool = False
    cancelled: bool = False
    stale: bool = False  # a button of a screen that is gone
    duplicate: bool = False  # the same button tapped twice before the first answer arrived: say nothing
    quiet: bool = False  # nothing to show (the second and later items of an album)


def is_answered(f: Field, answers: Mapping[str, Any]) -> bool:
    if f.id not in answers:
        return False
    return f.kind.answered(answers[f.id]) if f.required else True


class Engine:
    def __init__(self, form: Form) -> None:
        self.form = form

    # ---- state -------------------------------------------------------------------------------
    def new_draft(
        self,
        token: str,
        now: datetime,
        initial: Mapping[str, Any] | None = None,
        base: Mapping[str, Any] | None = None,
        subject: Any = None,
        first_unanswered: bool = False,
    ) -> dict[str, Any]:
        """A fresh draft; `initial` answers are prefilled (shown as the current answer, kept with one tap),
        `base` is kept for the form's rules (the last report's figures), `subject` names what it is about."""
        answers = copy.deepcopy(dict(initial or {}))
        env = {"base": dict(base or {}), "subject": subject}
        shown = [f for f in self.form.fields if f.visible(answers, env)]
        if first_unanswered:  # an import: start where the file left off (the review shows the rest)
            shown = [f for f in shown if f.required and answers.get(f.id) in (None, "", [], {})] or shown
        first = shown[0].id if shown else self.form.fields[0].id
        return {
            "form": self.form.id,
            "version": self.form.version,
            "token": token,
            "started_at": now.astimezone(UTC).isoformat(),
            "answers": answers,
            "base": copy.deepcopy(dict(base or {})),
            "subject": subject,
            "cursor": first,  # the first field shown (an adjustment skips what it keeps)
            "mode": "fill",
            "back_to_review": False,
            "prev_mode": None,
            "addons": {},
            "last_tap": None,
            "album": None,
        }

    def compatible(self, draft: Mapping[str, Any]) -> bool:
        """A draft this version of the form can continue (an older one is restarted, with a notice)."""
        if draft.get("form") != self.form.id or draft.get("version") != self.form.version:
            return False
        mode = draft.get("mode")
        if mode == "fill":
            return self.form.has(str(draft.get("cursor")))
        return mode in ("review", "cancel") or self._addon_screen(str(mode)) is not None

    def env(self, draft: Mapping[str, Any], ctx: Context) -> dict[str, Any]:
        return {**ctx.data, "base": draft.get("base") or {}, "subject": draft.get("subject")}

    def scope(self, draft: Mapping[str, Any], ctx: Context) -> Scope:
        return Scope(draft["answers"], self.env(draft, ctx), ctx.now, ctx.tz, ctx.translate)

    def step_code(self, draft: Mapping[str, Any]) -> int:
        mode = draft["mode"]
        if mode == "fill":
            return self.form.index(draft["cursor"])
        if mode == "review":
            return REVIEW
        if mode == "cancel":
            return CANCEL
        found = self._addon_screen(mode)
        assert found is not None, mode
        return ADDON_STEPS + 10 * found[0] + found[1]

    def _addon_screen(self, mode: str) -> tuple[int, int] | None:
        addon_id, _, screen = mode.partition(".")
        for i, addon in enumerate(self.form.addons):
            if addon.id == addon_id and screen in addon.screens:
                return i, addon.screens.index(screen)
        return None

    def visible(self, draft: Mapping[str, Any], ctx: Context) -> list[Field]:
        return self.form.visible(draft["answers"], self.env(draft, ctx))

    def expected(self, draft: Mapping[str, Any], ctx: Context) -> list[Field]:
        """The steps this draft will have: the visible ones, and those waiting on an answer not given yet
        (the sub-type before the category is chosen), so "step 1 of N" does not change N on the way."""
        answers, env = draft["answers"], self.env(draft, ctx)
        return [f for f in self.form.fields if f.visible(answers, env) or any(d not in answers for d in f.depends_on)]

    def position(self, draft: Mapping[str, Any], ctx: Context) -> tuple[int, int]:
        """(step number, expected steps) of the current field, 1-based."""
        steps = [f.id for f in self.expected(draft, ctx)]
        cursor = draft.get("cursor")
        return (steps.index(cursor) + 1 if cursor in steps else len(steps)), len(steps)

    def answered_count(self, draft: Mapping[str, Any], ctx: Context) -> int:
        return sum(1 for f in self.visible(draft, ctx) if is_answered(f, draft["answers"]))

    def missing(self, draft: Mapping[str, Any], ctx: Context) -> Field | None:
        for f in self.visible(draft, ctx):
            if not is_answered(f, draft["answers"]):
                return f
        return None

    def extras(self, draft: Mapping[str, Any], ctx: Context) -> dict[str, dict[str, Any]]:
        """What the review add-ons hold (e.g. the grade and the reason for changing it), for submitting."""
        scope = self.scope(draft, ctx)
        return {a.id: a.result(draft, scope) for a in self.form.addons}

    # ---- events ------------------------------------------------------------------------------
    def handle(self, draft: Mapping[str, Any], event: Event, ctx: Context) -> Outcome:
        d = jsoncodec.copy(draft)  # drafts are JSON (stored as such)
        if isinstance(event, Text) and not event.forwarded:
            event = self._typed_action(d, event, ctx) or event
        if not isinstance(event, Media):
            d["album"] = None
        if isinstance(event, Action):
            if event.step is not None and event.step != self.step_code(d) and event.name != "cancel":
                if d.get("last_tap") == [event.step, event.name, event.value]:
                    return Outcome(d, duplicate=True)  # a second tap that arrived after the first moved on
                return self._stale(d)
            outcome = self._action(d, event, ctx)
            if event.step is not None and not outcome.stale:
                outcome.draft["last_tap"] = [event.step, event.name, event.value]
            return outcome
        mode = d["mode"]
        if mode == "fill":
            return self._input(d, self.form.field(d["cursor"]), event, ctx)
        addon = self._addon_for(mode)
        if addon is not None:
            move = addon.handle(mode.partition(".")[2], d, event, self.scope(d, ctx))
            if move is not None:
                return self._moved(d, move, ctx)
        return self._error(d, N_("error.use_buttons"))

    def _typed_action(self, d: dict[str, Any], event: Text, ctx: Context) -> Action | None:
        typed = p.normalize(event.text).lstrip("/")
        if not typed:
            return None
        for action, label in NAV_LABELS.items():
            words = {p.normalize(ctx.translate(label)), action}
            words |= {re.sub(r"^[^\w]+\s*", "", w) for w in words}
            if typed in words and self._nav_allowed(d, action, ctx):
                return Action(action)
        return None

    def _nav_allowed(self, d: Mapping[str, Any], action: str, ctx: Context) -> bool:
        mode = str(d["mode"])
        if action == "cancel":
            return mode != "cancel"
        if mode == "cancel":
            return action in ("cancel_yes", "cancel_no")
        if mode == "review":
            return action in ("submit", "back")
        if mode != "fill":
            return action == "back"
        f = self.form.field(d["cursor"])
        current = d["answers"].get(f.id)
        allowed: dict[str, bool] = {
            "back": True,
            "skip": True,  # on a required field the engine answers "required" instead of storing the word
            "done": f.kind.has_done,
            "keep": not f.kind.has_done and f.kind.answered(current),
            "prefill": f.prefill is not None and bool(self.env(d, ctx).get(f.prefill)),
        }
        return allowed.get(action, False)

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
            return self._stale(d)
        if mode == "review":
            return self._review_action(d, a, ctx)
        if mode == "fill":
            return self._field_action(d, self.form.field(d["cursor"]), a, ctx)
        addon = self._addon_for(mode)
        move = addon.handle(mode.partition(".")[2], d, a, self.scope(d, ctx)) if addon else None
        return self._stale(d) if move is None else self._moved(d, move, ctx)

    def _addon_for(self, mode: str) -> Any:
        found = self._addon_screen(mode)
        return None if found is None else self.form.addons[found[0]]

    def _moved(self, d: dict[str, Any], move: Move, ctx: Context) -> Outcome:
        if move.mode != "review" and self._addon_screen(move.mode) is None:
            raise ValueError(f"add-on moved to an unknown screen {move.mode!r}")
        d["mode"] = move.mode
        return Outcome(d, move.notice, is_error=move.is_error)

    def _review_action(self, d: dict[str, Any], a: Action, ctx: Context) -> Outcome:
        if a.name == "submit":
            missing = self.missing(d, ctx)
            if missing is not None:
                d.update(mode="fill", cursor=missing.id, back_to_review=True)
                return self._error(d, N_("error.required_missing"))
            problem = self._problem(d, ctx)
            if problem is not None:
                return problem
            return Outcome(d, submit=True)
        if a.name == "edit" and a.value in {f.id for f in self.visible(d, ctx)}:
            d.update(mode="fill", cursor=a.value, back_to_review=True)
            return Outcome(d)
        if a.name == "back":
            d.update(mode="fill", cursor=self.visible(d, ctx)[-1].id, back_to_review=False)
            return Outcome(d)
        addon = self.form.addon(a.name)
        if addon is not None:
            move = addon.handle(None, d, a, self.scope(d, ctx))
            if move is not None:
                return self._moved(d, move, ctx)
        return self._stale(d)

    def _field_action(self, d: dict[str, Any], f: Field, a: Action, ctx: Context) -> Outcome:
        answers = d["answers"]
        if a.name == "back":
            return self._back(d, ctx)
        if a.name == "skip":
            if f.required:
                return self._error(d, N_("error.required"))
            answers[f.id] = None
            return self._advance(d, ctx)
        if a.name == "done" and f.kind.has_done:
            if f.required and not is_answered(f, answers):
                return self._error(d, N_("error.required"))
            answers.setdefault(f.id, None)
            return self._advance(d, ctx)
        if a.name == "keep" and f.kind.answered(answers.get(f.id)):
            return self._advance(d, ctx)
        if a.name == "prefill" and f.prefill:
            value = self.env(d, ctx).get(f.prefill)
            if value:
                answers[f.id] = copy.deepcopy(value)
                return self._advance(d, ctx)
        result = f.kind.on_action(a.name, a.value, answers.get(f.id), self.scope(d, ctx))
        return self._stale(d) if result is None else self._apply(d, f, result, ctx)

    def _input(self, d: dict[str, Any], f: Field, event: Event, ctx: Context) -> Outcome:
        scope = self.scope(d, ctx)
        current = d["answers"].get(f.id)
        if isinstance(event, Text):
            text = event.text
            if p.is_blank(text):
                return self._error(d, N_("error.text_empty"))
            length = len(text.strip())
            if length > f.kind.max_length:
                return self._error(d, N_("error.text_too_long"), max=f.kind.max_length, length=length)
            return self._apply(d, f, f.kind.on_text(text, current, scope), ctx)
        if isinstance(event, Media):
            return self._media(d, f, event, ctx)
        result = f.kind.on_event(event, current, scope)
        if result is None:
            return self._wrong_type(d, f, event, ctx)
        return self._apply(d, f, result, ctx)

    def _media(self, d: dict[str, Any], f: Field, event: Media, ctx: Context) -> Outcome:
        """A photo, video, voice note or file: kept in the form's attachments field from any step, so
        nothing a reporter sends is lost; an album is answered once."""
        target = f if isinstance(f.kind, Attachments) else self._attachments_field(d, ctx)
        if target is None:
            return self._wrong_type(d, f, event, ctx)
        assert isinstance(target.kind, Attachments)
        same_album = event.album is not None and d.get("album") == event.album
        d["album"] = event.album
        result = target.kind.add(event, d["answers"].get(target.id))
        if isinstance(result, p.Invalid):
            return self._error(d, result.msgid, **result.params)
        assert isinstance(result, Change)
        d["answers"][target.id] = result.value
        if same_album:
            return Outcome(d, quiet=True)
        count = len(result.value)
        if target is not f:
            what = ctx.translate(MEDIA_LABELS.get(event.kind, MEDIA_LABELS["document"]))
            return Outcome(d, (N_("notice.media_kept"), {"what": what, "count": count}))
        if event.album is not None:
            return Outcome(d, (N_("notice.album_added"), {}))
        return Outcome(d, result.notice)

    def _attachments_field(self, d: Mapping[str, Any], ctx: Context) -> Field | None:
        return next((f for f in self.visible(d, ctx) if isinstance(f.kind, Attachments)), None)

    def _apply(self, d: dict[str, Any], f: Field, result: Any, ctx: Context) -> Outcome:
        if isinstance(result, p.Invalid):
            return self._error(d, result.msgid, **result.params)
        if isinstance(result, Notice):
            return Outcome(d, (result.msgid, result.params))
        assert isinstance(result, Change)
        d["answers"][f.id] = result.value
        if not result.advance:
            return Outcome(d, result.notice)
        outcome = self._advance(d, ctx)
        if outcome.notice is None:
            outcome.notice = result.notice
        return outcome

    def _wrong_type(self, d: dict[str, Any], f: Field, event: Event, ctx: Context) -> Outcome:
        return self._error(d, N_("error.wrong_type"), expected=ctx.translate(f.kind.expects))

    @staticmethod
    def _error(d: dict[str, Any], msgid: str, **params: Any) -> Outcome:
        return Outcome(d, (msgid, params), is_error=True)

    @staticmethod
    def _stale(d: dict[str, Any]) -> Outcome:
        return Outcome(d, (N_("common.stale_button"), {}), is_error=True, stale=True)

    # ---- moving ------------------------------------------------------------------------------
    def _problem(self, d: dict[str, Any], ctx: Context) -> Outcome | None:
        """The form's rule across fields: when broken, back to the field it names, with the reason."""
        if self.form.validate is None:
            return None
        problem = self.form.validate(d["answers"], self.env(d, ctx))
        if problem is None:
            return None
        d.update(mode="fill", cursor=problem.target, back_to_review=True)
        return self._error(d, problem.msgid, **dict(problem.params))

    def _drop_invalid(self, d: dict[str, Any], ctx: Context) -> None:
        answers, env = d["answers"], self.env(d, ctx)
        scope = self.scope(d, ctx)
        for f in self.form.fields:
            options = getattr(f.kind, "options_for", None)
            if f.id in answers and f.depends_on and options and answers[f.id] not in {o.value for o in options(scope)}:
                del answers[f.id]
            if f.id in answers and not f.visible(answers, env):
                del answers[f.id]

    def _advance(self, d: dict[str, Any], ctx: Context) -> Outcome:
        self._drop_invalid(d, ctx)
        if d["back_to_review"]:
            missing = self.missing(d, ctx)
            if missing is not None:
                d["cursor"] = missing.id
                return Outcome(d)
            d.update(mode="review", back_to_review=False)
            return self._problem(d, ctx) or Outcome(d)
        ids = [f.id for f in self.visible(d, ctx)]
        i = ids.index(d["cursor"]) if d["cursor"] in ids else -1
        if i + 1 < len(ids):
            d["cursor"] = ids[i + 1]
            return Outcome(d)
        d["mode"] = "review"
        return self._problem(d, ctx) or Outcome(d)

    def _back(self, d: dict[str, Any], ctx: Context) -> Outcome:
        if d["back_to_review"] and self.missing(d, ctx) is None:
            d.update(mode="review", back_to_review=False)
            return Outcome(d)
        ids = [f.id for f in self.visible(d, ctx)]
        i = ids.index(d["cursor"]) if d["cursor"] in ids else 0
        if i == 0:
            return Outcome(d, (N_("notice.first_step"), {}))
        d["cursor"] = ids[i - 1]
        return Outcome(d)


__all__ = [
    "ADDON_STEPS",
    "CANCEL",
    "NAV_LABELS",
    "REVIEW",
    "Action",
    "Contact",
    "Context",
    "Engine",
    "Event",
    "Location",
    "Media",
    "Outcome",
    "Text",
    "Unsupported",
    "is_answered",
]
