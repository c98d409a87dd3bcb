"""Report drafts kept in the conversation state: expiry of abandoned drafts."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, tzinfo

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.domain.locales import resolve_locale
from bot.i18n import Catalogs
from bot.notifier import Notifier, Outbox
from storage.models import FsmRecord
from storage.uow import unit_of_work

log = logging.getLogger(__name__)
DRAFT_STATE = "ReportStates:filling"  # handlers.report.ReportStates.filling


async def expire_drafts(
    sessionmaker: async_sessionmaker[AsyncSession],
    notifier: Notifier,
    catalogs: Catalogs,
    now: datetime,
    ttl: timedelta,
    tz: tzinfo,
) -> int:
    """Drop drafts untouched for `ttl` and tell their reporters; returns how many expired."""
    out = Outbox()
    async with unit_of_work(sessionmaker) as repos:
        rows = (
            await repos.session.scalars(
                select(FsmRecord)
                .where(FsmRecord.state == DRAFT_STATE, FsmRecord.updated_at < now - ttl)
                .with_for_update(skip_locked=True)
            )
        ).all()
        for row in rows:
            user = await repos.users.by_telegram_id(row.user_id)
            _ = catalogs.translator(resolve_locale(user.locale if user else None, None, catalogs.default_locale))
            await repos.session.execute(delete(FsmRecord).where(FsmRecord.key == row.key))
            started = (row.data.get("draft") or {}).get("started_at")
            when = datetime.fromisoformat(started).astimezone(tz).strftime("%Y-%m-%d %H:%M") if started else "-"
            out.send(row.chat_id, _("report.draft_expired", started=when, days=ttl.days))
            await repos.audit.record("system", "draft.expire", "draft", row.key[-64:], before={"started_at": started})
    await notifier.flush(out)
    if rows:
        log.info("expired %d report drafts", len(rows))
    return len(rows)
