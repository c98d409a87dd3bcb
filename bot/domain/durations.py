"""Parse short durations such as `7d`, `12h`, `30m`."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"d": "days", "h": "hours", "m": "minutes", "w": "weeks"}
_RE = re.compile(r"^\s*(\d{1,4})\s*([dhmw])\s*$", re.IGNORECASE)


def parse_duration(text: str) -> timedelta | None:
    match = _RE.match(text)
    if not match:
        return None
    amount = int(match.group(1))
    if amount == 0:
        return None
    return timedelta(**{_UNITS[match.group(2).lower()]: amount})
