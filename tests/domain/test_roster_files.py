"""Untrusted roster files are read within limits: every hostile file is refused naming the limit it passed, and an
XLSX's <dimension> is never trusted."""

from __future__ import annotations

import pytest

from bot.domain.roster import RosterFileError, TableLimits, read_table
from tests import hostile

LIMITS = TableLimits()


def refusal(data: bytes, name: str, limits: TableLimits = LIMITS) -> RosterFileError:
    with pytest.raises(RosterFileError) as caught:
        read_table(data, name, limits)
    return caught.value


def test_an_ordinary_roster_reads_as_its_rows() -> None:
    assert read_table(hostile.xlsx(), "r.xlsx") == [hostile.HEADER, hostile.ROW]
    assert read_table(hostile.csv_rows(2), "r.csv") == [hostile.HEADER, hostile.ROW, hostile.ROW]


def test_a_dimension_claiming_every_column_is_not_trusted() -> None:
    assert read_table(hostile.claims_16384_columns(), "r.xlsx") == [hostile.HEADER, hostile.ROW]


def test_a_cell_in_the_last_column_is_not_read_into_a_16384_wide_row() -> None:
    rows = read_table(hostile.far_column(), "r.xlsx")
    assert rows[:2] == [hostile.HEADER, hostile.ROW] and all(len(r) <= LIMITS.max_columns for r in rows)


@pytest.mark.parametrize(
    ("make", "name", "msgid", "params"),
    [
        (hostile.a_million_rows, "r.xlsx", "roster.error.too_many", {"n": LIMITS.max_rows}),
        (hostile.too_wide, "r.xlsx", "roster.error.too_wide", {"line": 2, "n": LIMITS.max_columns}),
        (hostile.long_cell, "r.xlsx", "roster.error.cell_too_long", {"line": 2, "n": LIMITS.max_cell_chars}),
        (hostile.zip_bomb, "r.xlsx", "roster.error.unzipped_too_big", {"limit": "8 MB"}),
        (hostile.shared_strings, "r.xlsx", "roster.error.strings_too_big", {"limit": "4 MB"}),
        (hostile.many_parts, "r.xlsx", "roster.error.too_many_parts", {"n": LIMITS.max_members}),
        (lambda: hostile.csv_rows(LIMITS.max_rows + 1), "r.csv", "roster.error.too_many", {"n": LIMITS.max_rows}),
        (lambda: hostile.csv_wide(17), "r.csv", "roster.error.too_wide", {"line": 2, "n": LIMITS.max_columns}),
        (lambda: b"PK\x03\x04 not a zip", "r.xlsx", "roster.error.unreadable", {}),
    ],
)
def test_a_hostile_file_is_refused_naming_the_limit(make: object, name: str, msgid: str, params: dict) -> None:
    error = refusal(make(), name)  # type: ignore[operator]
    assert error.args[0] == msgid and error.params == params


def test_the_limits_are_settings() -> None:
    small = TableLimits(max_bytes=100)
    assert refusal(hostile.xlsx(), "r.xlsx", small).params == {"limit": "100 B"}
    assert read_table(hostile.csv_rows(5), "r.csv", TableLimits(max_rows=5))[-1] == hostile.ROW
    assert refusal(hostile.csv_rows(6), "r.csv", TableLimits(max_rows=5)).params == {"n": 5}
