"""The shapes an update's transaction and its per-database statements share (storage.update)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

# a conversation row as read: (state, data)
Row = tuple[str | None, dict[str, Any]]
# a conversation row to write: (key, bot id, chat id, user id, state, data); cleared (no state, no data): deleted
RowWrite = tuple[str, int, int, int, str | None, dict[str, Any]]
# an update to take in the inbox: (bot id, update id, the time it is marked handled)
Take = tuple[int, int, datetime]


def cleared(row: RowWrite) -> bool:
    return row[4] is None and not row[5]


@dataclass(frozen=True)
class Begun:
    """What an update's first read found: whether to handle it (True), or it was handled before (False: never
    twice), or it did not come through the inbox (None: fed directly); the people counter (storage.people); the
    sender's conversation row (None: they have none)."""

    taken: bool | None
    people_version: int
    row: Row | None


class Statements(Protocol):
    """One database's statements for an update (storage.update.sqlite, storage.update.postgres)."""

    late_take: bool  # True: the update is taken in the inbox with its last writes (finish), not at the start

    def broken(self) -> bool: ...

    async def begin(
        self, bot_id: int | None, update_id: int | None, now: datetime, row_key: str | None, recorded: bool
    ) -> Begun:
        """The update's first read: taken in the inbox (`bot_id` None: no inbox), the people counter, the sender's
        conversation row (`row_key`); `recorded`: it came through this process's inbox (it is there)."""
        ...

    async def preload(self, row_key: str) -> tuple[int, Row | None]:
        """The people counter and a conversation row."""
        ...

    async def finish(
        self,
        rows: list[RowWrite],
        payloads: list[str],
        now: datetime,
        take: Take | None,
        outbox_until: datetime | None,
    ) -> tuple[bool, list[int]]:
        """The update's last writes: the conversation rows, the outbox (held by this process until `outbox_until`:
        the retry job leaves them alone till then), and (`take`) the update taken in the inbox. Returns whether it
        was taken (always, without `take`) and the outbox rows' ids."""
        ...
