"""The people cache keeps plain read-only records of the user rows (not ORM objects), on both databases."""

from __future__ import annotations

import dataclasses

import pytest

from bot.usecases.onboarding import add_unit, add_user
from storage.people import PeopleCache, Person
from storage.uow import unit_of_work
from storage.update import update_transaction


async def test_a_cached_person_reads_like_the_user_row_and_cannot_be_changed(sessionmaker) -> None:
    async with unit_of_work(sessionmaker) as r:
        await add_unit(r, "t", "county", "县局", None)
        await add_user(r, "t", 42, "甲", "county", ["reporter,duty_officer"], "139")
    cache = PeopleCache()
    async with update_transaction(sessionmaker) as tx:
        version = (await tx.begin(None, None)).people_version
        person = await cache.get(tx, 42, version)
        assert await cache.get(tx, 43, version) is None  # nobody: remembered as unknown
    async with unit_of_work(sessionmaker) as r:
        row = await r.users.by_telegram_id(42)
        assert row is not None
        assert isinstance(person, Person)
        assert (person.id, person.telegram_id, person.name, person.phone, person.unit_id, person.active) == (
            row.id,
            42,
            "甲",
            "139",
            row.unit_id,
            True,
        )
        assert person.roles == row.roles == {"reporter", "duty_officer"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        person.locale = "en"  # type: ignore[misc]
