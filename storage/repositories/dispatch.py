"""联动 dispatch: linked units, orders and each unit's part (with its clock, claimed like the deadlines')."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import DispatchOrder, DispatchPart, LinkedUnit, Unit


class DispatchRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    # ---- linked units ---------------------------------------------------------------------------------------------
    async def linked_of_unit(self, unit_id: int) -> LinkedUnit | None:
        return await self.s.scalar(select(LinkedUnit).where(LinkedUnit.unit_id == unit_id))

    async def linked(self, linked_id: int) -> LinkedUnit | None:
        return await self.s.get(LinkedUnit, linked_id)

    async def add_linked(self, unit_id: int, kind: str, tier: str) -> LinkedUnit:
        row = LinkedUnit(unit_id=unit_id, kind=kind, tier=tier, active=True)
        self.s.add(row)
        await self.s.flush()
        return row

    async def linked_in(self, unit_ids: Iterable[int]) -> Sequence[tuple[LinkedUnit, Unit]]:
        """Active linked units among these units, with their unit, by kind then name."""
        ids = list(unit_ids)
        if not ids:
            return []
        q = (
            select(LinkedUnit, Unit)
            .join(Unit, Unit.id == LinkedUnit.unit_id)
            .where(LinkedUnit.unit_id.in_(ids), LinkedUnit.active.is_(True))
            .order_by(LinkedUnit.kind, Unit.name)
        )
        return [(row[0], row[1]) for row in (await self.s.execute(q)).all()]

    # ---- orders and parts ------------------------------------------------------------------------------------------
    async def add_order(self, order: DispatchOrder, parts: Sequence[DispatchPart]) -> DispatchOrder:
        self.s.add(order)
        await self.s.flush()
        for part in parts:
            part.order_id = order.id
        self.s.add_all(parts)
        await self.s.flush()
        return order

    async def add_parts(self, order: DispatchOrder, parts: Sequence[DispatchPart]) -> None:
        for part in parts:
            part.order_id = order.id
        self.s.add_all(parts)
        await self.s.flush()

    async def order(self, order_id: int) -> DispatchOrder | None:
        return await self.s.get(DispatchOrder, order_id)

    async def order_by_token(self, dispatcher_id: int, token: str) -> DispatchOrder | None:
        q = select(DispatchOrder).where(
            DispatchOrder.dispatcher_id == dispatcher_id, DispatchOrder.draft_token == token
        )
        return await self.s.scalar(q)

    async def order_by_number(self, number: str) -> DispatchOrder | None:
        return await self.s.scalar(select(DispatchOrder).where(DispatchOrder.number == number))

    async def part(self, part_id: int, lock: bool = False) -> DispatchPart | None:
        """A unit's part; `lock`: for a move (two people pressing at once are taken in turn)."""
        q = select(DispatchPart).where(DispatchPart.id == part_id)
        if lock:
            q = q.with_for_update().execution_options(populate_existing=True)
        return await self.s.scalar(q)

    async def parts_of(self, order_id: int) -> Sequence[DispatchPart]:
        return (
            await self.s.scalars(
                select(DispatchPart).where(DispatchPart.order_id == order_id).order_by(DispatchPart.id)
            )
        ).all()

    async def orders_of_incident(self, incident_id: int) -> Sequence[DispatchOrder]:
        q = select(DispatchOrder).where(DispatchOrder.incident_id == incident_id).order_by(DispatchOrder.id)
        return (await self.s.scalars(q)).all()

    async def open_orders(self, unit_ids: Iterable[int]) -> Sequence[DispatchOrder]:
        """Open orders dispatched by these units, oldest first."""
        ids = list(unit_ids)
        q = (
            select(DispatchOrder)
            .where(DispatchOrder.unit_id.in_(ids), DispatchOrder.state == "open")
            .order_by(DispatchOrder.id)
        )
        return (await self.s.scalars(q)).all() if ids else []

    async def parts_for_linked(
        self, linked_ids: Iterable[int], since: datetime | None = None
    ) -> Sequence[DispatchPart]:
        """Every part of these linked units (ordered since `since`): the assessment's input."""
        ids = list(linked_ids)
        if not ids:
            return []
        q = select(DispatchPart).where(DispatchPart.linked_unit_id.in_(ids))
        if since is not None:
            q = q.where(DispatchPart.dispatched_at >= since)
        return (await self.s.scalars(q.order_by(DispatchPart.id))).all()

    async def parts_ordered_by(
        self, unit_ids: Iterable[int] | None, start: datetime, end: datetime
    ) -> Sequence[tuple[DispatchPart, str]]:
        """Every part of the orders these units made in [start, end) (None: every unit's), with its linked unit's
        name: the assessment's input."""
        q = (
            select(DispatchPart, Unit.name)
            .join(DispatchOrder, DispatchOrder.id == DispatchPart.order_id)
            .join(LinkedUnit, LinkedUnit.id == DispatchPart.linked_unit_id)
            .join(Unit, Unit.id == LinkedUnit.unit_id)
            .where(DispatchPart.dispatched_at >= start, DispatchPart.dispatched_at < end)
            .order_by(Unit.name, DispatchPart.id)
        )
        if unit_ids is not None:
            q = q.where(DispatchOrder.unit_id.in_(list(unit_ids)))
        return [(row[0], str(row[1])) for row in (await self.s.execute(q)).all()]

    # ---- the boards ------------------------------------------------------------------------------------------------
    async def claim_boards(self, now: datetime, hold: datetime, limit: int) -> Sequence[DispatchOrder]:
        """Orders whose board is due, held until `hold` for this process (another skips them meanwhile)."""
        q = (
            select(DispatchOrder)
            .where(DispatchOrder.board_due_at <= now)
            .order_by(DispatchOrder.board_due_at, DispatchOrder.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        orders = (await self.s.scalars(q.execution_options(populate_existing=True))).all()
        for order in orders:
            order.board_due_at = hold
        await self.s.flush()
        return orders

    async def next_board_at(self) -> datetime | None:
        return await self.s.scalar(select(func.min(DispatchOrder.board_due_at)))

    # ---- the clock ------------------------------------------------------------------------------------------------
    async def claim_due(self, now: datetime, limit: int) -> Sequence[DispatchPart]:
        """Parts whose clock has an action due, locked like DeadlineRepo.claim_due."""
        q = (
            select(DispatchPart)
            .where(DispatchPart.next_at <= now)
            .order_by(DispatchPart.next_at, DispatchPart.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return (await self.s.scalars(q.execution_options(populate_existing=True))).all()

    async def next_at(self) -> datetime | None:
        return await self.s.scalar(select(func.min(DispatchPart.next_at)))
