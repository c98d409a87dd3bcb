"""Time: the clock the use cases read (injectable, so tests need no sleeping) and local display."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, tzinfo

Clock = Callable[[], datetime]  # returns an aware UTC datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def format_local(dt: datetime, tz: tzinfo) -> str:
    """A moment as a duty office reads it: local date and minute (2026-11-24 14:30)."""
    return dt.astimezone(tz).strftime("%Y-%m-%d %H:%M")
