"""What a screen is, as data: text (Telegram HTML, user text escaped) and rows of buttons. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Button:
    label: str
    action: str
    value: str = ""


@dataclass
class View:
    text: str
    rows: list[list[Button]] = field(default_factory=list)
    step: int = 0
    reply_keyboard: bool = False  # rows are reply-keyboard buttons (typed back as text)
    request_location: str | None = None  # label of the share-location button
