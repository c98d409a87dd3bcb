"""A per-process cache of the people behind Telegram accounts (the sender of every update).

Every update needs its sender's user row and roles; loading them is an ORM query with a join, the most
expensive read of the hot path. The cache keeps each person loaded once, detached from any session (read
it, never change it: a use case that changes a person loads them in its own transaction). It is valid while
`people_version` is the value it was filled at: database triggers advance that counter on every change to
users or user_roles, whoever makes it (this process, the CLI, another process, a statement typed by hand).
The middleware reads the counter in the same statement as the sender's conversation state, so a change is
seen by the very next update that starts after it committed.
"""

from __future__ import annotations

from collections import OrderedDict

from storage.hotpath import UpdateTx
from storage.models import User
from storage.repositories import UserRepo


class PeopleCache:
    # A cached person costs about 3.7 kB (an ORM object with its roles): 2,048 of them are about 8 MB and hold
    # everyone active in a busy hour of a province; beyond that the least recent are read again.
    def __init__(self, size: int = 2048) -> None:
        self.size = size
        self.version: int | None = None
        self.people: OrderedDict[int, User | None] = OrderedDict()  # telegram id -> user (None: unknown)

    @staticmethod
    async def current_version(tx: UpdateTx) -> int:
        return await (await tx.driver()).version()

    async def get(self, tx: UpdateTx, telegram_id: int, version: int) -> User | None:
        """The person behind a Telegram account as of `version` (read in this transaction)."""
        if version != self.version:
            self.people.clear()
            self.version = version
        if telegram_id in self.people:
            self.people.move_to_end(telegram_id)
            return self.people[telegram_id]
        user = await UserRepo(tx.session).by_telegram_id(telegram_id)
        if user is not None:
            tx.session.expunge(user)  # shared by later updates: never flushed from this one
        self.people[telegram_id] = user
        if len(self.people) > self.size:
            self.people.popitem(last=False)
        return user
