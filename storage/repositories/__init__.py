"""Repositories: the queries and changes of one entity each, on the session they are given.

The rule about transactions, stated once: a repository never commits or rolls back; its caller's unit of work
(storage.uow.transaction, or an update's transaction, storage.update) does. One exception, named where it happens:
on PostgreSQL a statement that stands on its own (storage.driversql.run with `alone=True`: a read, or a write that
is complete and idempotent by itself) runs without BEGIN and COMMIT when no transaction is open yet, so it is
committed as it returns: UnitRepo.with_duty_groups (a read), IncidentRepo.text_sent (a delivery's only write) and
filing a new incident (storage.filing, keyed by its draft token).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from storage.filing import Filing
from storage.models import DutyGroup, Unit
from storage.repositories.alerts import AlertRepo
from storage.repositories.audit import AuditRepo
from storage.repositories.counters import CounterRepo
from storage.repositories.deadlines import DeadlineRepo, wake_at
from storage.repositories.desk import DeskRepo
from storage.repositories.dispatch import DispatchRepo
from storage.repositories.drafts import DraftRepo
from storage.repositories.groups import DutyGroupRepo
from storage.repositories.incidents import IncidentRepo
from storage.repositories.invites import InviteRepo
from storage.repositories.roster import RosterRepo
from storage.repositories.stats import StatsRepo
from storage.repositories.units import UnitRepo
from storage.repositories.users import UserRepo
from storage.repositories.warnings import LeaseRepo, WarningRepo
from storage.rows import AuditRow

__all__ = ["AuditRow", "Repos", "wake_at"]


class Repos:
    """All repositories on one session: what a use case receives. Given a function instead of a session,
    the session is opened at the first use (an update's transaction needs none for a plain form step)."""

    def __init__(self, session: AsyncSession | Callable[[], AsyncSession], units: dict[int, Any] | None = None) -> None:
        self._open = session if callable(session) else lambda: session
        self._units = units  # the process's units with their duty groups, as of the update's start (storage.people)

    async def unit_with_groups(self, unit_id: int) -> tuple[Unit, DutyGroup | None, DutyGroup | None] | None:
        """UnitRepo.with_duty_groups, from the process's cache when the update was given one (storage.people: a
        change to units or duty groups, by whoever, is seen by the next update that starts after it committed)."""
        if self._units is not None and unit_id in self._units:
            found: tuple[Unit, DutyGroup | None, DutyGroup | None] = self._units[unit_id]
            return found
        found_now = await self.units.with_duty_groups(unit_id)
        if self._units is not None and found_now is not None:
            self._units[unit_id] = found_now
        return found_now

    @cached_property
    def session(self) -> AsyncSession:
        return self._open()

    @cached_property
    def units(self) -> UnitRepo:
        return UnitRepo(self.session)

    @cached_property
    def dispatch(self) -> DispatchRepo:
        return DispatchRepo(self.session)

    @cached_property
    def users(self) -> UserRepo:
        return UserRepo(self.session)

    @cached_property
    def invites(self) -> InviteRepo:
        return InviteRepo(self.session)

    @cached_property
    def groups(self) -> DutyGroupRepo:
        return DutyGroupRepo(self.session)

    @cached_property
    def audit(self) -> AuditRepo:
        return AuditRepo(self.session)

    @cached_property
    def incidents(self) -> IncidentRepo:
        return IncidentRepo(self.session)

    @cached_property
    def alerts(self) -> AlertRepo:
        return AlertRepo(self.session)

    @cached_property
    def drafts(self) -> DraftRepo:
        return DraftRepo(self.session)

    @cached_property
    def deadlines(self) -> DeadlineRepo:
        return DeadlineRepo(self.session)

    @cached_property
    def warnings(self) -> WarningRepo:
        return WarningRepo(self.session)

    @cached_property
    def leases(self) -> LeaseRepo:
        return LeaseRepo(self.session)

    @cached_property
    def desk(self) -> DeskRepo:
        return DeskRepo(self.session)

    @cached_property
    def roster(self) -> RosterRepo:
        return RosterRepo(self.session)

    @cached_property
    def stats(self) -> StatsRepo:
        return StatsRepo(self.session)

    @cached_property
    def filing(self) -> Filing:
        return Filing(self.session)

    @cached_property
    def counters(self) -> CounterRepo:
        return CounterRepo(self.session)
