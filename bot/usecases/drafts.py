"""Form drafts kept in the conversation state: expiry of abandoned drafts."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.domain.text import N_
from bot.usecases.common import Say
from storage.repositories import Repos

FORM_STATE = "form:filling"  # the conversation state of a person filling any form
LEGACY_STATES = ("ReportStates:filling",)  # drafts stored before forms carried a version
DRAFT_STATES = (FORM_STATE, *LEGACY_STATES)


async def expire_drafts(repos: Repos, now: datetime, ttl: timedelta) -> list[Say]:
    """Drop drafts untouched for `ttl`; returns the notice for each reporter."""
    notices = []
    for row in await repos.drafts.untouched(DRAFT_STATES, now - ttl):
        user = await repos.users.by_telegram_id(row.user_id)
        await repos.drafts.delete(row.key)
        started = (row.data.get("draft") or {}).get("started_at")
        when = datetime.fromisoformat(started) if started else None
        notices.append(
            Say(
                row.chat_id,
                N_("report.draft_expired"),
                {"started": when or "-", "days": ttl.days},
                user.locale if user else None,
            )
        )
        await repos.audit.record("system", "draft.expire", "draft", row.key[-64:], before={"started_at": started})
    return notices
