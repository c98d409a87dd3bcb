"""When a duty-group alert that Telegram has not accepted is tried again (our default policy, as data).

The first try is right after the report is committed. An alert still undelivered after FIRST_RETRY
(a crash between commit and send, an outage, the bot removed from the group) is retried on this
schedule; administrators are told after NOTICE_AFTER failed retries, and retries stop after GIVE_UP_AFTER.
"""

from __future__ import annotations

from datetime import datetime, timedelta

FIRST_RETRY = timedelta(seconds=60)
RETRY_BACKOFF = (timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=5), timedelta(minutes=10))
NOTICE_AFTER = 2
GIVE_UP_AFTER = timedelta(hours=24)


def next_retry(created_at: datetime, now: datetime, attempts: int) -> datetime | None:
    """When to try again after `attempts` failed retries; None once retrying has gone on long enough."""
    wait = RETRY_BACKOFF[min(attempts, len(RETRY_BACKOFF)) - 1] if attempts > 0 else FIRST_RETRY
    at = now + wait
    return None if at - created_at > GIVE_UP_AFTER else at


def notify_admins(attempts: int, already_told: bool) -> bool:
    """Tell the unit's administrators once, after NOTICE_AFTER failed retries."""
    return attempts >= NOTICE_AFTER and not already_told


# Telegram albums: 2–10 items, photos and videos mixed, or documents only, or audio only.
ALBUM_MAX = 10
ALBUM_FAMILY = {"photo": "visual", "video": "visual", "document": "document", "audio": "audio"}


def group_attachments(kinds: list[str]) -> list[list[int]]:
    """Indexes of a report's attachments, in order, grouped into the messages that carry them: consecutive
    photos and videos (or documents, or audio) as one album of up to 10; voice notes and the rest alone."""
    groups: list[list[int]] = []
    for i, kind in enumerate(kinds):
        family = ALBUM_FAMILY.get(kind)
        last = groups[-1] if groups else None
        if (
            family is not None
            and last is not None
            and ALBUM_FAMILY.get(kinds[last[-1]]) == family
            and len(last) < ALBUM_MAX
        ):
            last.append(i)
        else:
            groups.append([i])
    return groups
