"""A form is data: ordered fields with a kind, prompts (catalog ids), options, conditions."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

Answers = Mapping[str, Any]


class Kind(StrEnum):
    CHOICE = "choice"
    MULTI_CHOICE = "multi_choice"
    TEXT = "text"
    INTEGER = "integer_or_unknown"
    CASUALTIES = "casualties"
    MONEY = "money"
    DATETIME = "datetime"
    LOCATION = "location"
    CONTACT = "contact"
    ATTACHMENTS = "attachments"


@dataclass(frozen=True)
class Option:
    value: str  # ASCII code: goes into callback data
    label: str  # catalog id


@dataclass(frozen=True)
class Field:
    id: str
    kind: Kind
    label: str  # catalog id, short (review screen)
    prompt: str  # catalog id
    required: bool = True
    options: tuple[Option, ...] | Callable[[Answers], tuple[Option, ...]] = ()
    condition: Callable[[Answers], bool] | None = None
    condition_text: str = ""  # for the printed form and the diagram
    depends_on: tuple[str, ...] = ()  # an answer here is dropped when it no longer fits these
    max_length: int = 2000
    allow_text: bool = False  # multi-choice: a typed answer that matches no option is kept as "other"
    prefill: str | None = None  # context key offering a one-tap answer (e.g. the reporter's profile)
    max_items: int = 10  # attachments

    def options_for(self, answers: Answers) -> tuple[Option, ...]:
        return self.options(answers) if callable(self.options) else self.options

    def visible(self, answers: Answers) -> bool:
        return self.condition is None or self.condition(answers)


@dataclass(frozen=True)
class Form:
    id: str
    title: str  # catalog id
    fields: tuple[Field, ...]
    suggest_grade: Callable[[Answers], str] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def field(self, field_id: str) -> Field:
        for f in self.fields:
            if f.id == field_id:
                return f
        raise KeyError(field_id)

    def visible(self, answers: Answers) -> list[Field]:
        return [f for f in self.fields if f.visible(answers)]

    def index(self, field_id: str) -> int:
        return [f.id for f in self.fields].index(field_id)
