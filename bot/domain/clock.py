"""Time: the clock the use cases read (injectable, so tests need no sleeping) and local display."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, tzinfo

Clock = Callable[[], datetime]  # returns an aware UTC datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def format_local(dt: datetime, tz: tzinfo) -> str:
    """A moment as a duty office reads it: local date and minute (2026-11-24 14:30)."""
    return dt.astimezone(tz).strftime("%Y-%m-%d %H:%M")


# The days the bot takes from people and files: a date outside them is refused by name (converting one such as
# 0001-01-01 or 9999-12-31 between time zones would overflow).
FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(2099, 12, 31)


def supported(day: date) -> bool:
    """The day (or the moment's day) lies between FIRST_DAY and LAST_DAY."""
    return FIRST_DAY <= (day.date() if isinstance(day, datetime) else day) <= LAST_DAY
