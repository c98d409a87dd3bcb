"""/stats and /export on Telegram: the figures as one message with a chart, and an export file prepared in the
background (a year of data takes seconds) and sent into the chat as a document."""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, tzinfo
from html import escape
from pathlib import Path

from aiogram.types import FSInputFile
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.domain.categories import BY_CODE
from bot.domain.stats import GRADES, Period, Stats, Timeliness
from bot.domain.text import N_
from bot.telegram.charts import ChartData
from bot.telegram.desk import grades_text
from bot.telegram.i18n import Translator
from bot.telegram.notifier import Notifier, Outgoing
from bot.usecases.common import Config
from bot.usecases.stats import export_name, write_export
from conversations.addons import grade_label
from conversations.formatting import format_money
from storage.uow import unit_of_work

log = logging.getLogger(__name__)

PERIOD_TITLES = {"week": N_("stats.period.week"), "month": N_("stats.period.month"),
                 "quarter": N_("stats.period.quarter"), "half": N_("stats.period.half"),
                 "year": N_("stats.period.year"), "range": N_("stats.period.range")}  # fmt: skip
UNITS_SHOWN = 10  # units listed in the message (the worst first); the export has them all
STALE = 600.0  # seconds
UPLOAD_MAX = 50 * 1024 * 1024  # the Bot API's limit for a document a bot sends


def period_text(period: Period, _: Translator) -> str:
    return _(PERIOD_TITLES[period.kind], start=period.first_day.isoformat(), end=period.last_day.isoformat())


def _rate(t: Timeliness) -> str:
    return f"{t.rate * 100:.1f}%" if t.rate is not None else "-"


def stats_text(s: Stats, _: Translator) -> str:
    lines = [_("stats.title", period=period_text(s.period, _), unit=escape(s.scope))]
    if not s.total.incidents:
        lines.append(_("stats.no_incidents"))
    else:
        lines.append(_("stats.incidents", n=s.total.incidents))
        for code, tally in s.categories.items():
            grades = grades_text(tally.by_grade, _)
            label = _(BY_CODE[code].label) if code in BY_CODE else escape(code)
            lines.append(_("stats.category_line", category=label, n=tally.incidents, grades=grades))
        t = s.total
        lines.append(
            _(
                "stats.toll",
                deaths=t.deaths,
                missing=t.missing,
                injured=t.injuries,
                serious=t.serious,
                loss=format_money(t.loss_cny, _),
            )
        )
    all_ = s.timeliness
    lines.append("")
    if not all_.due and not all_.reports:
        lines.append(_("stats.no_deadlines"))
    else:
        lines.append(
            _(
                "stats.timeliness",
                rate=_rate(all_),
                due=all_.due,
                on_time=all_.on_time,
                late=all_.late,
                missed=all_.missed,
                reports=all_.reports,
                incomplete=all_.incomplete,
            )
        )
        for t in s.units[:UNITS_SHOWN]:
            lines.append(
                _(
                    "stats.unit_line",
                    unit=escape(t.unit),
                    rate=_rate(t),
                    due=t.due,
                    late=t.late,
                    missed=t.missed,
                    incomplete=t.incomplete,
                )
            )
        if len(s.units) > UNITS_SHOWN:
            lines.append(_("notice.more", n=len(s.units) - UNITS_SHOWN))
    if s.dispatch:  # 管理考核
        lines += ["", _("stats.dispatch_title")]
        for name, a in s.dispatch[:UNITS_SHOWN]:
            rate = f"{a.on_time_rate * 100:.0f}%" if a.on_time_rate is not None else "—"
            median = f"{a.median_minutes:.1f}" if a.median_minutes is not None else "—"
            lines.append(
                _(
                    "stats.dispatch_line",
                    unit=escape(name),
                    orders=a.orders,
                    accepted=a.accepted,
                    declined=a.declined,
                    rate=rate,
                    median=median,
                )
            )
        if len(s.dispatch) > UNITS_SHOWN:
            lines.append(_("notice.more", n=len(s.dispatch) - UNITS_SHOWN))
    return "\n".join(lines)


def chart_data(s: Stats, _: Translator) -> ChartData:
    categories = [(_(BY_CODE[c].label) if c in BY_CODE else c, dict(t.by_grade)) for c, t in s.categories.items()]
    units = [
        (t.unit, t.rate, _("stats.chart_note", late=t.late, missed=t.missed) if t.late or t.missed else "")
        for t in s.units
        if t.due
    ]
    return ChartData(
        title=_("stats.chart_title", period=period_text(s.period, _), unit=s.scope),
        count_title=_("stats.chart_counts"),
        rate_title=_("stats.chart_rates"),
        categories=categories,
        grade_labels={g: grade_label(g, _) for g in GRADES},
        units=units,
        empty=_("stats.no_incidents"),
        dispatch=[
            (name, a.on_time_rate, _("stats.chart_dispatch_note", orders=a.orders, median=_median(a.median_minutes)))
            for name, a in s.dispatch
            if a.orders
        ],
        dispatch_title=_("stats.chart_dispatch"),
    )


def _median(minutes: float | None) -> str:
    return f"{minutes:.1f}" if minutes is not None else "—"


class Exporter:
    """Writes an export in the background after the asking update committed, sends it as a document, and
    removes the file. One export at a time per person; a failure is told, never silent."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        notifier: Notifier,
        config: Config,
        translator: Callable[[str], Translator],
    ) -> None:
        self.sessionmaker, self.notifier, self.config, self.translator = sessionmaker, notifier, config, translator
        self.running: dict[int, float] = {}  # person -> when their export was asked for (monotonic)

    def busy(self, person: int) -> bool:
        """An export of theirs is being prepared (one whose update never committed is forgotten after STALE)."""
        started = self.running.get(person)
        return started is not None and time.monotonic() - started < STALE

    def start(self, person: int) -> None:
        self.running[person] = time.monotonic()

    async def run(self, person: int, chat_id: int, unit_id: int, period: Period, fmt: str, locale: str) -> None:
        _ = self.translator(locale)
        tz: tzinfo = self.config.tz
        try:
            with tempfile.TemporaryDirectory(prefix="kuaibao-export-") as folder:
                name = export_name(period, fmt)
                path = Path(folder) / name
                now: datetime = self.config.clock()
                async with unit_of_work(self.sessionmaker) as repos:
                    done = await write_export(
                        repos, unit_id, period.start.astimezone(tz), period.end.astimezone(tz), fmt, path, _, tz, now
                    )
                size = path.stat().st_size
                if size > UPLOAD_MAX:
                    await self._say(chat_id, _("export.too_big", size=size // (1024 * 1024)))
                    return
                caption = _(
                    "export.caption",
                    period=period_text(period, _),
                    incidents=done.rows.get("incidents", 0),
                    reports=done.rows.get("reports", 0),
                )
                await self.notifier.deliver(
                    Outgoing(
                        "send_document",
                        {"chat_id": chat_id, "document": FSInputFile(path, filename=name), "caption": caption},
                    )
                )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("export for %s failed", person)
            await self._say(chat_id, _("export.failed"))
        finally:
            self.running.pop(person, None)

    async def _say(self, chat_id: int, text: str) -> None:
        try:
            await self.notifier.deliver(Outgoing("send_message", {"chat_id": chat_id, "text": text}))
        except Exception:
            log.exception("could not tell %s about the export", chat_id)
