"""The incident number, in one place: `KB-20261125-0001`, the local day and its sequence number, four digits at least.
SQLite formats it here in Python (`incident_number`), PostgreSQL in the filing statement (`number_sql`, the same
format as a SQL expression); tests/storage/test_filing.py holds the two equal, past 9999 too."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, cast, func

DIGITS = 4  # at least: the 10,000th incident of a day is KB-…-10000


def incident_prefix(day: str) -> str:
    """`day`: YYYYMMDD, local."""
    return f"KB-{day}-"


def incident_number(prefix: str, seq: int) -> str:
    return f"{prefix}{seq:0{DIGITS}d}"


def number_sql(prefix: Any, seq: Any) -> Any:
    """incident_number as a SQL expression of a prefix and a sequence number (PostgreSQL)."""
    text = cast(seq, String)
    return prefix + func.lpad(text, func.greatest(DIGITS, func.length(text)), "0")
