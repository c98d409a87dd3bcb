"""A form is data: ordered fields, each of a kind (conversations/kinds.py) with its own limits,
conditions, prefills and rules across fields, and optional review add-ons. Pure."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from conversations.events import Event
    from conversations.kinds import FieldKind
    from conversations.view import Button, View

Answers = Mapping[str, Any]
Env = Mapping[str, Any]  # the caller's context (profile, open incidents…) and the draft's base figures
Translate = Callable[..., str]


@dataclass(frozen=True)
class Option:
    value: str  # ASCII code: goes into callback data
    label: str  # catalog id, or the text itself when `literal`
    literal: bool = False  # a label from data (an incident number), not a catalog id


@dataclass(frozen=True)
class Scope:
    """Everything a field kind may look at while handling one event or drawing one screen."""

    answers: Answers
    env: Env
    now: datetime
    tz: tzinfo
    translate: Translate

    def label(self, option: Option) -> str:
        return option.label if option.literal else self.translate(option.label)


@dataclass(frozen=True)
class Field:
    id: str
    kind: FieldKind
    label: str  # catalog id, short (review screen)
    prompt: str  # catalog id
    required: bool = True
    condition: Callable[[Answers, Env], bool] | None = None
    condition_text: str = ""  # for the printed form and the diagram
    depends_on: tuple[str, ...] = ()  # an answer here is dropped when it no longer fits these
    prefill: str | None = None  # context key offering a one-tap answer (e.g. the reporter's profile)

    def visible(self, answers: Answers, env: Env) -> bool:
        return self.condition is None or self.condition(answers, env)


@dataclass(frozen=True)
class Problem:
    """A rule across fields is broken: the person is sent back to `field` with the reason."""

    target: str  # the field id
    msgid: str
    params: Mapping[str, Any] = field(default_factory=dict)


class ReviewAddon(Protocol):
    """An optional part of a form's review screen (a suggested grade; a warning's recipient count).

    It may own screens of its own (`screens`), reached from a review button whose action is its id;
    what it stores lives in draft["addons"][id] and reaches the submit use case from `result()`.
    """

    @property
    def id(self) -> str: ...

    @property
    def screens(self) -> tuple[str, ...]: ...

    def lines(self, draft: Mapping[str, Any], scope: Scope) -> list[str]: ...

    def buttons(self, draft: Mapping[str, Any], scope: Scope) -> list[list[Button]]: ...

    def render(self, screen: str, draft: Mapping[str, Any], scope: Scope) -> View: ...

    def handle(self, screen: str | None, draft: dict[str, Any], event: Event, scope: Scope) -> Any: ...

    def result(self, draft: Mapping[str, Any], scope: Scope) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Form:
    id: str  # ASCII, short: goes into callback data
    version: int  # raise it when fields change: drafts of another version restart politely
    title: str  # catalog id
    fields: tuple[Field, ...]
    submit: str  # the use case that files a finished draft (bot/usecases/filing.py)
    intro: str | None = None  # catalog id shown above the first prompt
    validate: Callable[[Answers, Env], Problem | None] | None = None  # rules across fields
    addons: tuple[ReviewAddon, ...] = ()
    done_text: str = ""  # what submitting does, for the printed form and the diagram

    def field(self, field_id: str) -> Field:
        for f in self.fields:
            if f.id == field_id:
                return f
        raise KeyError(field_id)

    def has(self, field_id: str) -> bool:
        return any(f.id == field_id for f in self.fields)

    def visible(self, answers: Answers, env: Env) -> list[Field]:
        return [f for f in self.fields if f.visible(answers, env)]

    def index(self, field_id: str) -> int:
        return [f.id for f in self.fields].index(field_id)

    def addon(self, addon_id: str) -> ReviewAddon | None:
        return next((a for a in self.addons if a.id == addon_id), None)


@dataclass(frozen=True)
class Move:
    """What a review add-on decided: the next screen ("review" or one of its own) and what to say."""

    mode: str
    notice: tuple[str, dict[str, Any]] | None = None
    is_error: bool = False
