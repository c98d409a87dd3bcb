"""Prometheus metrics a worker serves at /metrics (prometheus-client). Under gunicorn (`serve --workers N`) every
worker's counters are summed over the machine's workers (prometheus-client's multiprocess mode: `serve` sets
PROMETHEUS_MULTIPROC_DIR for them); the database's gauges (inbox depth and age, outbox depth) are read at each scrape,
so any worker answers for all of them."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Gauge, generate_latest

UPDATES_RECEIVED = Counter("kuaibao_updates_received", "Updates Telegram posted that were stored in the inbox")
WEBHOOK_REFUSED = Counter("kuaibao_webhook_refused", "Webhook requests refused", ["reason"])
UPDATES_HANDLED = Counter("kuaibao_updates_handled", "Updates a worker ran to the end")
UPDATES_FAILED = Counter(
    "kuaibao_updates_failed", "Updates whose run raised (the person was told; kept with its error)"
)
UPDATES_SET_ASIDE = Counter("kuaibao_updates_set_aside", "Updates quarantined after runs that took a process down")
SENDS = Counter("kuaibao_sends", "Bot API calls Telegram accepted, by priority", ["priority"])
FLOOD_CONTROL = Counter("kuaibao_flood_control", "429 answers (flood control), by priority", ["priority"])
INBOX_WAITING = Gauge("kuaibao_inbox_waiting", "Stored updates not handled yet", multiprocess_mode="mostrecent")
INBOX_OLDEST = Gauge(
    "kuaibao_inbox_oldest_seconds", "Age of the oldest stored update not handled yet", multiprocess_mode="mostrecent"
)
OUTBOX_WAITING = Gauge("kuaibao_outbox_waiting", "Answers stored and not sent yet", multiprocess_mode="mostrecent")
SCHEDULER_LAG = Gauge(
    "kuaibao_scheduler_lag_seconds",
    "How late the most overdue clock action (reminder, escalation) is: 0 while the scheduler keeps up",
    multiprocess_mode="mostrecent",
)
BROADCAST_QUEUED = Gauge(
    "kuaibao_broadcast_queued", "Early-warning deliveries waiting to be sent", multiprocess_mode="mostrecent"
)


def registry() -> CollectorRegistry:
    """The process's registry, or under gunicorn one that sums every worker's files."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
        return merged
    return REGISTRY


def exposition(refresh: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[tuple[bytes, str]]]:
    """The /metrics body: the database's gauges read now (`refresh`), then every metric in the text format."""

    async def render() -> tuple[bytes, str]:
        await refresh()
        return generate_latest(registry()), CONTENT_TYPE_LATEST

    return render
