"""Parsers for what a reporter types: times, casualty figures, money, integers, contacts. Pure.

Each returns `Ok(value)` or `Invalid(msgid, params)`; the message id names the reason in the catalogs.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any, Generic, TypeVar

from bot.domain.text import N_

T = TypeVar("T")

MAX_COUNT = 100_000  # people: more is refused as absurd
MAX_MONEY = 10**13  # CNY: 10万亿
FUTURE_TOLERANCE = timedelta(minutes=5)
MAX_AGE = timedelta(days=30)
UNKNOWN_WORDS = {"不详", "未知", "不清楚", "待查", "待核实", "unknown", "n/a", "na", "?", "？", "不明"}


@dataclass(frozen=True)
class Ok(Generic[T]):
    value: T


@dataclass(frozen=True)
class Invalid:
    msgid: str
    params: dict[str, Any] = field(default_factory=dict)


def normalize(text: str) -> str:
    """Full-width digits and punctuation to ASCII, collapse spaces, lower-case."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip().lower()


def is_unknown(text: str) -> bool:
    return normalize(text) in UNKNOWN_WORDS


# ---- small Chinese numerals (hours, minutes, counts up to 99) ---------------------------------------
_CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}


def _cn_to_int(text: str) -> int | None:
    if text.isdigit():
        return int(text)
    if not text or any(ch not in _CN_DIGITS and ch != "十" for ch in text):
        return None
    if "十" in text:
        tens, _, ones = text.partition("十")
        t = _CN_DIGITS.get(tens) if tens else 1
        o = _CN_DIGITS.get(ones) if ones else 0
        return None if t is None or o is None else t * 10 + o
    return _CN_DIGITS[text] if len(text) == 1 else None


_CN_NUM = r"[零〇一二两三四五六七八九十]{1,3}"
_CN_NUM_RE = re.compile(_CN_NUM)


def _replace_cn_numbers(text: str) -> str:
    def sub(m: re.Match[str]) -> str:
        value = _cn_to_int(m.group(0))
        return m.group(0) if value is None else str(value)

    return _CN_NUM_RE.sub(sub, text)


# ---- date and time ----------------------------------------------------------------------------
_MONTHS = {
    m: i + 1
    for i, names in enumerate(
        [("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",), ("jun", "june"),
         ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"), ("oct", "october"),
         ("nov", "november"), ("dec", "december")]
    )
    for m in names
}  # fmt: skip
_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DAY_WORDS = {"今天": 0, "今日": 0, "today": 0, "昨天": 1, "昨日": 1, "yesterday": 1, "前天": 2}
_NOW_WORDS = {"刚刚", "现在", "刚才", "now", "just now", "right now"}
_PERIODS_PM = ("下午", "晚上", "傍晚", "夜里", "夜间", "pm", "p.m.")
_PERIODS_AM = ("凌晨", "早上", "早晨", "上午", "清晨", "am", "a.m.")

_REL_RE = re.compile(
    r"^(?P<n>\d+(?:\.\d+)?|半)\s*(?:个)?\s*(?P<unit>分钟|分|小时|钟头|天|mins?|minutes?|m|hours?|hrs?|h|days?|d)"
    r"\s*(?:前|以前|之前|ago)?$"
)
_ISO_RE = re.compile(r"^\d{4}-\d{2}-\d{2}t\d{2}:\d{2}(:\d{2}(\.\d+)?)?(z|[+-]\d{2}:?\d{2})?$")
_DATE_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"(?P<y>\d{4})\s*[-/.年]\s*(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*[日号]?"),
    re.compile(r"(?P<m>\d{1,2})\s*月\s*(?P<d>\d{1,2})\s*[日号]"),
    re.compile(r"(?P<m>\d{1,2})[-/](?P<d>\d{1,2})(?![\d:])"),
    re.compile(rf"(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\s+(?P<mon>{_MONTH_RE})\.?,?"),
    re.compile(rf"(?P<mon>{_MONTH_RE})\.?\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?,?"),
)
_CLOCK_RE = re.compile(r"^(?P<h>\d{1,2})[:.](?P<mi>\d{2})(?::\d{2})?\s*(?P<ap>am|pm|a\.m\.|p\.m\.)?$")
_CN_TIME_RE = re.compile(r"^(?P<h>\d{1,2})\s*[点时](?:\s*(?P<half>半)|\s*(?P<mi>\d{1,2})\s*分?)?$")
_EN_TIME_RE = re.compile(r"^(?P<h>\d{1,2})\s*(?P<ap>am|pm|a\.m\.|p\.m\.)$")


def _parse_clock(text: str) -> tuple[int, int] | None:
    """'14:30', '3点', '下午3点半', '3pm', '晚上9:10' -> (hour, minute) on a 24-hour clock."""
    text = text.strip()
    period = ""
    for word in (*_PERIODS_PM, *_PERIODS_AM, "中午"):
        if text.startswith(word):
            period, text = word, text[len(word) :].strip()
            break
    match = _CLOCK_RE.match(text) or _CN_TIME_RE.match(text) or _EN_TIME_RE.match(text)
    if not match:
        return None
    groups = match.groupdict()
    hour = int(groups["h"])
    minute = 30 if groups.get("half") else int(groups.get("mi") or 0)
    ap = groups.get("ap") or ""
    if ap.startswith("p") or period in _PERIODS_PM:
        if hour > 12:
            return None if ap else (hour, minute) if hour < 24 and minute < 60 else None
        hour = hour % 12 + 12
    elif ap.startswith("a") or period in _PERIODS_AM:
        if hour > 12:
            return None
        hour = hour % 12
    elif period == "中午" and hour < 11:
        hour += 12
    if not (0 <= hour < 24 and 0 <= minute < 60):
        return None
    return hour, minute


def parse_datetime(text: str, now: datetime, tz: tzinfo) -> Ok[datetime] | Invalid:
    """Parse a reporter's time of occurrence (Chinese or English); returns an aware datetime in tz."""
    raw = normalize(text)
    if not raw:
        return Invalid(N_("error.time_format"))
    local_now = now.astimezone(tz)
    result = _parse_datetime(raw, local_now, tz)
    if result is None:
        return Invalid(N_("error.time_format"))
    if isinstance(result, Invalid):
        return result
    if result > local_now + FUTURE_TOLERANCE:
        return Invalid(N_("error.time_future"))
    if result < local_now - MAX_AGE:
        return Invalid(N_("error.time_too_old"), {"days": MAX_AGE.days})
    return Ok(result)


def _parse_datetime(raw: str, now: datetime, tz: tzinfo) -> datetime | Invalid | None:
    if raw in _NOW_WORDS:
        return now
    rel = _REL_RE.match(_replace_cn_numbers(raw))
    if rel:
        n = 0.5 if rel["n"] == "半" else float(rel["n"])
        unit = rel["unit"]
        if unit in ("分钟", "分", "min", "mins", "minute", "minutes", "m"):
            delta = timedelta(minutes=n)
        elif unit in ("天", "day", "days", "d"):
            delta = timedelta(days=n)
        else:
            delta = timedelta(hours=n)
        return now - delta
    if _ISO_RE.match(raw):
        try:
            value = datetime.fromisoformat(raw.upper().replace("Z", "+00:00"))
        except ValueError:
            return Invalid(N_("error.time_invalid_date"))
        return (value if value.tzinfo else value.replace(tzinfo=tz)).astimezone(tz)

    rest = raw
    day: date | None = None
    explicit_year = False
    for word, back in _DAY_WORDS.items():
        if rest.startswith(word):
            day = (now - timedelta(days=back)).date()
            rest = rest[len(word) :].strip()
            break
    if day is None:
        for pattern in _DATE_PATTERNS:
            m = pattern.search(rest)
            if not m:
                continue
            g = m.groupdict()
            month = _MONTHS[g["mon"]] if "mon" in g and g.get("mon") else int(g["m"])
            year = int(g["y"]) if g.get("y") else now.year
            explicit_year = bool(g.get("y"))
            try:
                day = date(year, month, int(g["d"]))
            except ValueError:
                return Invalid(N_("error.time_invalid_date"))
            rest = (rest[: m.start()] + " " + rest[m.end() :]).strip(" ,")
            break
    rest = _replace_cn_numbers(rest.strip())
    if not rest:
        return Invalid(N_("error.time_need_clock")) if day is not None else None
    clock = _parse_clock(rest)
    if clock is None:
        return None
    relative_bare = day is None
    day = day or now.date()
    value = datetime.combine(day, time(*clock), tzinfo=tz)
    if relative_bare and value > now + FUTURE_TOLERANCE:
        value -= timedelta(days=1)  # "23:50" typed just after midnight means yesterday
    elif not explicit_year and value > now + FUTURE_TOLERANCE and value.date() != now.date():
        value = value.replace(year=value.year - 1)  # "12月31日" typed in January
    return value


# ---- numbers ----------------------------------------------------------------------------------
def parse_count(text: str) -> Ok[int | None] | Invalid:
    """A number of people, or unknown (None)."""
    raw = normalize(text).removesuffix("人").strip()
    if raw in UNKNOWN_WORDS:
        return Ok(None)
    return _count(raw)


def _count(raw: str) -> Ok[int | None] | Invalid:
    cn = _cn_to_int(raw)
    if cn is not None:
        raw = str(cn)
    if re.fullmatch(r"-\s*\d+(\.\d+)?", raw):
        return Invalid(N_("error.count_negative"))
    if re.fullmatch(r"\d+\.\d+", raw):
        return Invalid(N_("error.count_decimal"))
    if not re.fullmatch(r"\d+", raw):
        return Invalid(N_("error.count_format"))
    value = int(raw)
    if value > MAX_COUNT:
        return Invalid(N_("error.count_absurd"), {"max": MAX_COUNT})
    return Ok(value)


CASUALTY_KEYS: tuple[str, ...] = ("deaths", "injured", "missing", "serious", "trapped")  # positional order
_CASUALTY_WORDS: tuple[tuple[str, str], ...] = (
    ("seriously injured", "serious"), ("serious injuries", "serious"), ("serious", "serious"), ("重伤", "serious"),
    ("死亡", "deaths"), ("遇难", "deaths"), ("死", "deaths"), ("deaths", "deaths"), ("death", "deaths"),
    ("dead", "deaths"), ("killed", "deaths"),
    ("失踪", "missing"), ("missing", "missing"),
    ("被困", "trapped"), ("受困", "trapped"), ("trapped", "trapped"),
    ("受伤", "injured"), ("轻伤", "injured"), ("伤", "injured"), ("injuries", "injured"), ("injured", "injured"),
    ("injury", "injured"), ("hurt", "injured"),
)  # fmt: skip
_CW = "|".join(re.escape(w) for w, _ in _CASUALTY_WORDS)
_VAL = r"-?\s*\d+(?:\.\d+)?|[零〇一二两三四五六七八九十]{1,3}|不详|未知|不清楚|unknown|\?|？"
_KEY_FIRST = re.compile(rf"(?P<key>{_CW})\s*[:：=]?\s*(?P<val>{_VAL})\s*人?")
_VAL_FIRST = re.compile(rf"(?P<val>{_VAL})\s*人?\s*(?P<key>{_CW})")
NONE_WORDS = {"无", "没有", "无伤亡", "none", "no casualties", "0", "nil"}


def parse_casualties(text: str) -> Ok[dict[str, int | None]] | Invalid:
    """'死亡2 受伤5 失踪0', '2人死亡，3人受伤', '2/5/0' (deaths/injured/missing/serious/trapped), '不详'.

    Returns only the figures mentioned (a figure given as unknown is None); the form merges them.
    """
    raw = normalize(text)
    if raw in UNKNOWN_WORDS:
        return Ok(dict.fromkeys(CASUALTY_KEYS))
    if raw in NONE_WORDS:
        return Ok(dict.fromkeys(CASUALTY_KEYS, 0))
    words = dict(_CASUALTY_WORDS)
    found: dict[str, int | None] = {}
    for pattern in (_KEY_FIRST, _VAL_FIRST):
        consumed = raw
        for m in pattern.finditer(raw):
            key = words[m["key"]]
            value = m["val"].strip()
            result = Ok(None) if value in UNKNOWN_WORDS else _count(re.sub(r"\s+", "", value))
            if isinstance(result, Invalid):
                return Invalid(result.msgid, {**result.params, "what": key})
            found[key] = result.value
            consumed = consumed.replace(m.group(0), " ", 1)
        if found:
            if re.search(r"[0-9a-z\u4e00-\u9fff]", re.sub(r"[，,、;；和及 ]|and", "", consumed)):
                return Invalid(N_("error.casualties_format"))
            return Ok(found)
    parts = [p for p in re.split(r"[/／,，、\s]+", raw) if p]
    if 1 < len(parts) <= len(CASUALTY_KEYS):
        for key, part in zip(CASUALTY_KEYS, parts, strict=False):
            result = Ok(None) if part in UNKNOWN_WORDS else _count(part)
            if isinstance(result, Invalid):
                return Invalid(result.msgid, {**result.params, "what": key})
            found[key] = result.value
        return Ok(found)
    return Invalid(N_("error.casualties_format"))


_MULTIPLIERS = {
    "": 1, "元": 1, "千": 1000, "k": 1000, "万": 10**4, "w": 10**4, "十万": 10**5, "百万": 10**6, "m": 10**6,
    "million": 10**6, "千万": 10**7, "亿": 10**8, "billion": 10**9, "万元": 10**4, "亿元": 10**8, "千元": 1000,
}  # fmt: skip


def parse_money(text: str) -> Ok[int | None] | Invalid:
    """'350万', '1.2亿', '3,500,000', '5000元', 'unknown' -> yuan (None when unknown)."""
    raw = normalize(text)
    if raw in UNKNOWN_WORDS:
        return Ok(None)
    raw = re.sub(r"(人民币|rmb|cny|yuan|¥|￥|,|\s)", "", raw)
    raw = raw.removesuffix("元") if not raw.endswith(("万元", "亿元", "千元")) else raw
    m = re.fullmatch(r"(?P<neg>-)?(?P<n>\d+(?:\.\d+)?)(?P<unit>[a-z\u4e00-\u9fff]*)", raw)
    if not m or m["unit"] not in _MULTIPLIERS:
        return Invalid(N_("error.money_format"))
    if m["neg"]:
        return Invalid(N_("error.money_negative"))
    try:
        value = Decimal(m["n"]) * _MULTIPLIERS[m["unit"]]
    except InvalidOperation:
        return Invalid(N_("error.money_format"))
    if value > MAX_MONEY:
        return Invalid(N_("error.money_absurd"))
    return Ok(int(value.to_integral_value()))


_PHONE_RE = re.compile(r"(\+?\d[\d\- ]{4,18}\d)")


def parse_contact(text: str) -> Ok[dict[str, str]] | Invalid:
    """'王某 13800000000' -> name and phone (both needed)."""
    raw = unicodedata.normalize("NFKC", text).strip()
    m = _PHONE_RE.search(raw)
    if not m:
        return Invalid(N_("error.contact_format"))
    name = (raw[: m.start()] + raw[m.end() :]).strip(" ,，:：;；/")
    name = re.sub(r"^(负责人|姓名|name)[:：]?\s*", "", name, flags=re.IGNORECASE).strip()
    if not name or len(name) > 100:
        return Invalid(N_("error.contact_format"))
    return Ok({"name": name, "phone": re.sub(r"[\s-]", "", m.group(1))})
