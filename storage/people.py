"""A per-process cache of the people behind Telegram accounts (the sender of every update).

Every update needs its sender's user row and roles; loading them is an ORM query with a join, the most
expensive read of the hot path. The cache keeps each person loaded once, detached from any session (read
it, never change it: a use case that changes a person loads them in its own transaction). It is valid while
`people_version` is the value it was filled at: database triggers advance that counter on every change to
users or user_roles, whoever makes it (this process, the CLI, another process, a statement typed by hand).
The middleware reads the counter in the same statement as the sender's conversation state, so a change is
seen by the very next update that starts after it committed.

It keeps each unit with its duty groups too (what filing alerts: a statement, on PostgreSQL a round trip, per
report), under the same counter, which changes to units and duty_groups advance as well.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from storage.models import DutyGroup, Unit, User
from storage.repositories.users import UserRepo
from storage.update import UpdateTx


@dataclass(frozen=True, slots=True)
class Person:
    """A person as the cache keeps them: the user row's values and their roles, read-only. It reads like the user
    row (`id`, `unit_id`, `roles`, …) for the handlers and use cases; one that changes a person loads the row in its
    own transaction. A detached ORM object with its role rows cost about 3.7 kB, this about 0.3 kB."""

    id: int
    telegram_id: int
    name: str
    phone: str | None
    unit_id: int
    locale: str | None
    active: bool
    created_at: datetime
    roles: frozenset[str]

    @classmethod
    def of(cls, user: User) -> Person:
        roles = user.roles
        roles = _ROLE_SETS.setdefault(roles, roles)  # a handful of distinct sets, shared (about 0.2 kB a person)
        return cls(
            user.id,
            user.telegram_id,
            user.name,
            user.phone,
            user.unit_id,
            user.locale,
            user.active,
            user.created_at,
            roles,
        )


_ROLE_SETS: dict[frozenset[str], frozenset[str]] = {}  # each distinct set of roles once


# a unit, its duty group and its parent unit's (storage.repositories.UnitRepo.with_duty_groups): read-only copies
UnitGroups = tuple[Unit, DutyGroup | None, DutyGroup | None]


class PeopleCache:
    # 2,048 people (about 0.6 MB) hold everyone active in a busy hour of a province; beyond that the least recent are
    # read again. Units: a province has a few hundred; past UNITS_MAX (about 3 kB each) the cache starts over.
    UNITS_MAX = 1024

    def __init__(self, size: int = 2048) -> None:
        self.size = size
        self.version: int | None = None
        self.people: OrderedDict[int, Person | None] = OrderedDict()  # telegram id -> person (None: unknown)
        self._units: dict[int, UnitGroups] = {}  # unit id -> the unit with its duty groups, as of `version`

    async def get(self, tx: UpdateTx, telegram_id: int, version: int) -> Person | None:
        """The person behind a Telegram account as of `version` (read in this transaction)."""
        self._at(version)
        if telegram_id in self.people:
            self.people.move_to_end(telegram_id)
            return self.people[telegram_id]
        user = await UserRepo(tx.session).by_telegram_id(telegram_id)
        person = Person.of(user) if user is not None else None
        self.people[telegram_id] = person
        if len(self.people) > self.size:
            self.people.popitem(last=False)
        return person

    def units(self, version: int) -> dict[int, UnitGroups]:
        """The units with their duty groups as of `version` (the update's reading of the counter), for the update's
        Repos to read from and fill. A new counter starts a new dict: an update still holding the old one fills
        that, which nobody reads any more."""
        self._at(version)
        if len(self._units) >= self.UNITS_MAX:
            self._units = {}
        return self._units

    def _at(self, version: int) -> None:
        if version != self.version:
            self.people.clear()
            self._units = {}
            self.version = version
