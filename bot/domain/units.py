"""The unit tree (county under city under province) as pure data. Pure."""

from __future__ import annotations

from collections.abc import Sequence


def units_with_descendants(units: Sequence[tuple[int, int | None]], chosen: Sequence[int]) -> set[int]:
    """The chosen units and every unit below them (`units`: (id, parent id) pairs)."""
    children: dict[int | None, list[int]] = {}
    for unit_id, parent_id in units:
        children.setdefault(parent_id, []).append(unit_id)
    out: set[int] = set()
    todo = list(chosen)
    while todo:
        unit_id = todo.pop()
        if unit_id in out:
            continue
        out.add(unit_id)
        todo += children.get(unit_id, [])
    return out
