"""Values as a reader sees them (escaped Telegram HTML where user text is involved). Pure."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bot.domain.text import N_

Tr = Callable[..., str]

CASUALTY_LABELS: dict[str, str] = {
    "deaths": N_("casualty.deaths"),
    "missing": N_("casualty.missing"),
    "serious": N_("casualty.serious"),
    "injured": N_("casualty.injured"),
    "trapped": N_("casualty.trapped"),
}
CASUALTY_ORDER = ("deaths", "missing", "serious", "injured", "trapped")  # as shown
MEDIA_LABELS = {
    "photo": N_("media.photo"),
    "video": N_("media.video"),
    "voice": N_("media.voice"),
    "audio": N_("media.audio"),
    "document": N_("media.document"),
    "video_note": N_("media.video"),
    "animation": N_("media.video"),
}


def _locale(tr: Tr) -> str:
    return str(getattr(tr, "locale", "zh_Hans"))


def join(items: list[str], tr: Tr) -> str:
    """A list in the reader's language: 甲、乙 / A, B."""
    return tr("value.separator").join(items)


def format_money(amount: int, tr: Tr) -> str:
    if _locale(tr).startswith("zh"):
        if amount >= 10**8:
            text = f"{amount / 10**8:.4f}".rstrip("0").rstrip(".") + "亿"
        elif amount >= 10**4:
            text = f"{amount / 10**4:.4f}".rstrip("0").rstrip(".") + "万"
        else:
            text = str(amount)
    else:
        text = f"{amount:,}"
    return tr("value.money", amount=text)


def format_casualties(value: Mapping[str, Any], tr: Tr) -> str:
    unknown = tr("value.unknown")
    parts = []
    for key in CASUALTY_ORDER:
        figure = value.get(key)
        parts.append(f"{tr(CASUALTY_LABELS[key])} {unknown if figure is None else figure}")
    return " · ".join(parts)


def map_link(lat: float, lon: float) -> str:
    """AMap (reachable in China); Telegram coordinates are WGS-84, which the URI says."""
    return f"https://uri.amap.com/marker?position={lon:.6f},{lat:.6f}&coordinate=wgs84"


def format_span(seconds: float, tr: Tr) -> str:
    """A length of time, its two largest units: 1天3小时 / 1 d 3 h; under a minute counts as one minute."""
    minutes = max(1, int(abs(seconds) // 60))
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    parts = [(days, N_("span.days")), (hours, N_("span.hours")), (mins, N_("span.minutes"))]
    shown = [tr(msgid, n=n) for n, msgid in parts if n][:2]
    return ("" if _locale(tr).startswith("zh") else " ").join(shown)
