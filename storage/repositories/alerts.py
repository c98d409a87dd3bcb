"""Duty-group alerts, their parts and who acknowledged them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage import driversql
from storage.dialect import dialect_of, upsert_insert
from storage.models import (
    Acknowledgement,
    Alert,
    AlertPart,
    User,
)
from storage.rows import ALERTS, PARTS, insert_row

_PART_SENT = (
    update(PARTS)
    .where(PARTS.c.id == bindparam("part_id"))
    .values(message_id=bindparam("part_message"), sent_at=bindparam("at"))
)


@cache
def _alert_sent(complete: bool) -> Any:
    """The alert's text was accepted (`complete`: it was its last part: stop retrying)."""
    values: dict[str, Any] = {
        "chat_id": bindparam("alert_chat"),
        "message_id": bindparam("alert_message"),
        "sent_at": bindparam("at"),
    }
    if complete:
        values.update(next_attempt_at=None, last_error=None)
    return update(ALERTS).where(ALERTS.c.id == bindparam("alert")).values(**values)


@cache
def _text_sent(complete: bool) -> Any:
    """PostgreSQL: the text part and its alert, one statement."""
    return _alert_sent(complete).add_cte(_PART_SENT.cte("part_sent"))


class AlertRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def add_alert(self, alert: Alert) -> Alert:
        await insert_row(self.s, alert)
        return alert

    async def alert(self, alert_id: int) -> Alert | None:
        return await self.s.get(Alert, alert_id)

    async def alert_complete(self, alert_id: int) -> None:
        """Every part of the alert was accepted: stop retrying."""
        done = update(ALERTS).where(ALERTS.c.id == alert_id).values(next_attempt_at=None, last_error=None)
        await self.s.execute(done)

    async def add_alerts(self, alerts: Sequence[tuple[Alert, Sequence[AlertPart]]]) -> None:
        """New alerts, each with its parts (their alert's id set here), a statement a row."""
        for alert, parts in alerts:
            await insert_row(self.s, alert)
            for part in parts:
                part.alert_id = alert.id
                await insert_row(self.s, part)

    async def pending_parts(self, alert_id: int) -> Sequence[AlertPart]:
        q = select(AlertPart).where(AlertPart.alert_id == alert_id, AlertPart.message_id.is_(None))
        return (await self.s.scalars(q.order_by(AlertPart.position))).all()

    async def part_sent(self, part_id: int, message_id: int, at: datetime) -> None:
        await driversql.run(self.s, _PART_SENT, {"part_id": part_id, "part_message": message_id, "at": at})

    async def text_sent(
        self,
        part_id: int,
        alert_id: int,
        chat_id: int,
        message_id: int,
        at: datetime,
        complete: bool,
        alone: bool = False,
    ) -> None:
        """Telegram accepted an alert's text part: the part's message, and the alert's (in the chat it ended up in;
        `complete`: it was the alert's last part, stop retrying). On PostgreSQL one statement (`alone`: the
        transaction's only write, then run on its own without BEGIN and COMMIT), on SQLite two."""
        # (each statement is given only its own parameters: SQLAlchemy, like this, takes a parameter named as a
        # column of the updated table for a value to SET)
        part = {"part_id": part_id, "part_message": message_id, "at": at}
        alert = {"alert": alert_id, "alert_chat": chat_id, "alert_message": message_id, "at": at}
        if dialect_of(self.s).name == "postgresql":
            await driversql.run(self.s, _text_sent(complete), part | alert, alone=alone)
        else:
            await driversql.run(self.s, _PART_SENT, part)
            await driversql.run(self.s, _alert_sent(complete), alert)

    async def undelivered_alerts(self, now: datetime | None, limit: int = 50) -> Sequence[int]:
        """Ids of alerts with a part Telegram has not accepted yet, whose next attempt is due (every one of
        them when `now` is None), oldest first."""
        q = select(Alert.id).where(Alert.next_attempt_at.is_not(None))
        if now is not None:
            q = q.where(Alert.next_attempt_at <= now)
        return (await self.s.scalars(q.order_by(Alert.next_attempt_at, Alert.id).limit(limit))).all()

    async def claim_alert(
        self, alert_id: int, now: datetime, retry_at: datetime | None, due_only: bool = True
    ) -> Alert | None:
        """Take one undelivered alert for a delivery attempt (one process wins); count the attempt."""
        condition = [Alert.id == alert_id, Alert.next_attempt_at.is_not(None)]
        if due_only:
            condition.append(Alert.next_attempt_at <= now)
        result = await self.s.execute(
            update(Alert).where(*condition).values(attempts=Alert.attempts + 1, next_attempt_at=retry_at)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return None
        return await self.s.get(Alert, alert_id, populate_existing=True)

    async def alerts_of_report(self, report_id: int) -> Sequence[Alert]:
        q = select(Alert).where(Alert.report_id == report_id).order_by(Alert.id)
        return (await self.s.scalars(q.execution_options(populate_existing=True))).all()

    async def alert_failed(self, alert_id: int, error: str) -> None:
        await self.s.execute(update(Alert).where(Alert.id == alert_id).values(last_error=error[:300]))

    async def alert_notice_sent(self, alert_id: int, at: datetime) -> None:
        await self.s.execute(update(Alert).where(Alert.id == alert_id).values(undelivered_notice_at=at))

    async def acknowledgements(self, alert_id: int) -> list[tuple[Acknowledgement, User]]:
        q = (
            select(Acknowledgement, User)
            .join(User, User.id == Acknowledgement.user_id)
            .where(Acknowledgement.alert_id == alert_id)
            .order_by(Acknowledgement.at, Acknowledgement.id)
        )
        return [(a, u) for a, u in (await self.s.execute(q)).unique().all()]

    async def add_acknowledgement(self, alert_id: int, user_id: int, at: datetime) -> bool:
        """Record one acknowledgement; False when this person already acknowledged."""
        insert = upsert_insert(self.s)
        stmt = (
            insert(Acknowledgement)
            .values(alert_id=alert_id, user_id=user_id, at=at)
            .on_conflict_do_nothing(index_elements=[Acknowledgement.alert_id, Acknowledgement.user_id])
            .returning(Acknowledgement.id)
        )
        return (await self.s.execute(stmt)).scalar_one_or_none() is not None
