"""What a person can send, as the engine sees it (the Telegram adapter translates updates to these)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Text:
    text: str
    forwarded: bool = False  # someone else's words: never read as a command or a button label


@dataclass(frozen=True)
class Action:
    name: str
    value: str = ""
    step: int | None = None  # the screen the button belonged to; None for typed input


@dataclass(frozen=True)
class Location:
    lat: float
    lon: float
    title: str | None = None  # a venue: its name and address come with the coordinates
    address: str | None = None
    live: bool = False  # a live location: the first position is kept, its updates are not answers


@dataclass(frozen=True)
class Contact:
    name: str
    phone: str


@dataclass(frozen=True)
class Media:
    kind: str  # photo | video | voice | document | audio | video_note | animation
    file_id: str
    file_unique_id: str
    album: str | None = None  # media_group_id: the items of one album arrive as separate messages


@dataclass(frozen=True)
class Unsupported:
    what: str  # sticker, poll, dice, …


Event = Text | Action | Location | Contact | Media | Unsupported
