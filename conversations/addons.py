"""Review add-ons: optional parts of a form's review screen, with screens of their own. Pure."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from html import escape
from typing import Any

from bot.domain.grading import GRADE_LABELS, Grade
from bot.domain.text import N_
from conversations import parsers as p
from conversations.events import Action, Event, Text
from conversations.form import Answers, Move, Scope
from conversations.view import Button, View

GRADE_REASON_MAX = 500
GRADE_CHOICES: tuple[str, ...] = ("I", "II", "III", "IV", "ungraded")


def grade_label(grade: str | None, tr: Callable[..., str]) -> str:
    return tr(GRADE_LABELS[Grade(grade)]) if grade else tr("value.none")


@dataclass(frozen=True)
class SuggestedGrade:
    """The grade the answers reach (domain rules §2), which the reporter may change with a reason."""

    suggest: Callable[[Answers], str]
    id: str = "grade"
    screens: tuple[str, ...] = ("choose", "reason")

    def _state(self, draft: Mapping[str, Any]) -> dict[str, Any]:
        return dict((draft.get("addons") or {}).get(self.id) or {})

    def result(self, draft: Mapping[str, Any], scope: Scope) -> dict[str, Any]:
        suggested = self.suggest(draft["answers"])
        state = self._state(draft)
        if state.get("value"):
            return {"suggested": suggested, "grade": state["value"], "reason": state["reason"]}
        return {"suggested": suggested, "grade": suggested, "reason": None}

    def lines(self, draft: Mapping[str, Any], scope: Scope) -> list[str]:
        tr = scope.translate
        lines = [tr("form.grade_suggested", grade=grade_label(self.suggest(draft["answers"]), tr))]
        state = self._state(draft)
        if state.get("value"):
            lines.append(
                tr("form.grade_override", grade=grade_label(state["value"], tr), reason=escape(state["reason"]))
            )
        return lines

    def buttons(self, draft: Mapping[str, Any], scope: Scope) -> list[list[Button]]:
        return [[Button(scope.translate("button.change_grade"), self.id)]]

    def render(self, screen: str, draft: Mapping[str, Any], scope: Scope) -> View:
        tr = scope.translate
        back = Button(tr("button.back"), "back")
        if screen == "choose":
            rows = [[Button(grade_label(g, tr), "set_grade", g)] for g in GRADE_CHOICES]
            suggested = grade_label(self.suggest(draft["answers"]), tr)
            return View(tr("form.grade_choose", suggested=suggested), [*rows, [back]])
        pending = grade_label(self._state(draft).get("pending"), tr)
        return View(tr("form.grade_reason", grade=pending), [[back, Button(tr("button.cancel"), "cancel")]])

    def handle(self, screen: str | None, draft: dict[str, Any], event: Event, scope: Scope) -> Move | None:
        state = self._state(draft)
        draft.setdefault("addons", {})[self.id] = state
        if screen is None:  # the review's button
            return Move(f"{self.id}.choose") if isinstance(event, Action) and event.name == self.id else None
        if isinstance(event, Action) and event.name == "back":
            state.pop("pending", None)
            return Move("review" if screen == "choose" else f"{self.id}.choose")
        if screen == "choose" and isinstance(event, Action) and event.name == "set_grade":
            if event.value not in GRADE_CHOICES:
                return None
            if event.value == self.suggest(draft["answers"]):
                state.pop("value", None)
                state.pop("reason", None)
                return Move("review")
            state["pending"] = event.value
            return Move(f"{self.id}.reason")
        if screen == "reason" and isinstance(event, Text):
            reason = event.text.strip()
            if p.is_blank(reason):
                return Move(f"{self.id}.reason", (N_("error.text_empty"), {}), is_error=True)
            if len(reason) > GRADE_REASON_MAX:
                params = {"max": GRADE_REASON_MAX, "length": len(reason)}
                return Move(f"{self.id}.reason", (N_("error.text_too_long"), params), is_error=True)
            state.update(value=state.pop("pending", None), reason=reason)
            return Move("review")
        return None
