"""The sandbox's clock: the real time plus an offset that only moves forward ("+10 min", "+1 h", "next deadline").

It is passed to the bot as its clock (`App(settings, clock=…)`: the use cases, the scheduler, the broadcaster and the
alert courier read it), so reminders, 迟报, escalations, shift changes and the daily summary happen minutes apart
instead of hours. A bot in production is built with the real clock (`bot.domain.clock.utcnow`) and never moves it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from bot.domain.clock import utcnow


class MovableClock:
    def __init__(self, offset: timedelta = timedelta(0), now: Callable[[], datetime] = utcnow) -> None:
        self.offset = offset
        self._now = now
        self.listeners: list[Callable[[datetime], None]] = []  # told after each move (the scheduler's wake)

    def __call__(self) -> datetime:
        return self._now() + self.offset

    def timestamp(self) -> float:
        return self().timestamp()

    def advance(self, by: timedelta) -> datetime:
        """Move forward by `by` (never back: what was due stays due)."""
        if by < timedelta(0):
            raise ValueError("the clock only moves forward")
        self.offset += by
        now = self()
        for listener in self.listeners:
            listener(now)
        return now

    def advance_to(self, moment: datetime) -> datetime:
        """Move forward to `moment` (a moment already past leaves the clock where it is)."""
        return self.advance(max(timedelta(0), moment - self()))
