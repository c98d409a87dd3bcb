"""Filing a new incident: one writer, `Filing.file(plan)`, with one module per database (storage.filing.sqlite: a
statement a row; storage.filing.postgres: one statement). Both write the same rows (tests/storage/test_filing.py reads
them back through the ORM on both databases), number the incident last, from the day's counter
(storage.filing.numbers), and write nothing, taking no number, when the plan's draft was filed before (its reporter's
draft token is taken: a second tap, a redelivery, the same update in another process)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from storage.dialect import dialect_of
from storage.filing.numbers import incident_number, incident_prefix
from storage.filing.plan import FilingPlan

__all__ = ["Filing", "FilingPlan", "incident_number", "incident_prefix"]


class Filing:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def file(self, plan: FilingPlan) -> str | None:
        """Write the plan; its incident's number, or None (nothing written) when its draft was filed before. The
        rows' ids are set on the plan's objects, as a flush would."""
        if dialect_of(self.s).name == "postgresql":
            from storage.filing import postgres

            return await postgres.file(self.s, self.plan_checked(plan))
        from storage.filing import sqlite

        return await sqlite.file(self.s, self.plan_checked(plan))

    @staticmethod
    def plan_checked(plan: FilingPlan) -> FilingPlan:
        if plan.incident.id is not None or plan.report.id is not None:
            raise ValueError("a plan is filed once: its incident or report has an id already")
        return plan
