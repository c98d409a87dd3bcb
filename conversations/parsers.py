"""Parsers for what a reporter types: times, casualty figures, money, integers, contacts. Pure.

Each returns `Ok(value)` or `Invalid(msgid, params)`; the message id names the reason in the catalogs.
Chinese numerals of any size (一百二十, 三百五十万, 两千) are read by cn2an, a maintained converter.
"""

from __future__ import annotations

import contextlib
import re
import unicodedata
import warnings
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any, Generic, TypeVar

from bot.domain.clock import format_local
from bot.domain.text import N_

T = TypeVar("T")

MAX_COUNT = 100_000  # people: more is refused as absurd
MAX_MONEY = 10**13  # CNY: 10万亿
# The default window of a time of occurrence; a field may set its own (a warning's end lies ahead).
FUTURE_TOLERANCE = timedelta(minutes=5)
MAX_AGE = timedelta(days=30)
UNKNOWN_WORDS = {"不详", "未知", "不清楚", "待查", "待核实", "unknown", "n/a", "na", "?", "？", "不明"}
# Characters that show nothing: zero-width and format characters, Hangul fillers, the braille blank.
_INVISIBLE = {"\u3164", "\u115f", "\u1160", "\uffa0", "\u2800"}


@dataclass(frozen=True)
class Ok(Generic[T]):
    value: T


@dataclass(frozen=True)
class Invalid:
    msgid: str
    params: dict[str, Any] = field(default_factory=dict)


def strip_invisible(text: str) -> str:
    return "".join(ch for ch in text if ch not in _INVISIBLE and unicodedata.category(ch) != "Cf")


def normalize(text: str) -> str:
    """Full-width digits and punctuation to ASCII, invisible characters dropped, spaces collapsed, lower-case."""
    return re.sub(r"\s+", " ", strip_invisible(unicodedata.normalize("NFKC", text))).strip().lower()


def is_blank(text: str) -> bool:
    """Nothing a person could read: empty, spaces of any width, or invisible characters only."""
    return not normalize(text)


# ---- Chinese numerals (cn2an) ---------------------------------------------------------------------------
_CN_DIGIT_CHARS = "零〇一二两三四五六七八九十百千"
_CN_UNITS = {"万": 10**4, "亿": 10**8}
_CN_RUN = re.compile(rf"[0-9.{_CN_DIGIT_CHARS}点万亿]*[{_CN_DIGIT_CHARS}][0-9.{_CN_DIGIT_CHARS}点万亿]*")
_CN_SMALL_RUN = re.compile(f"[{_CN_DIGIT_CHARS}]+")  # hours, minutes, days: no decimal point, no 万


def cn_number(run: str) -> Decimal | None:
    """'一百二十' -> 120, '三百五十万' -> 3500000, '两千' -> 2000, '一点二亿' -> 120000000; None if not a number."""
    import cn2an  # imported when first needed: about 4 MB and 70 ms the bot need not pay before a numeral comes

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return Decimal(str(cn2an.cn2an(run, "smart")))
        except (ValueError, KeyError, IndexError, TypeError, InvalidOperation):
            pass
    if len(run) > 1 and run[-1] in _CN_UNITS:  # cn2an refuses a decimal before a unit: 一点二亿, 三点五万
        head = cn_number(run[:-1])
        return None if head is None else head * _CN_UNITS[run[-1]]
    return None


def _digits(value: Decimal) -> str:
    return str(value.to_integral_value()) if value == value.to_integral_value() else str(value.normalize())


def replace_cn_numerals(text: str, small: bool = False) -> str:
    """Write every Chinese numeral in `text` with digits ('受伤一百二十人' -> '受伤120人')."""

    def sub(m: re.Match[str]) -> str:
        value = cn_number(m.group(0))
        return m.group(0) if value is None else _digits(value)

    return (_CN_SMALL_RUN if small else _CN_RUN).sub(sub, text)


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
# day word -> days from today (negative: in the past)
_DAY_WORDS = {"今天": 0, "今日": 0, "today": 0, "昨天": -1, "昨日": -1, "yesterday": -1, "前天": -2,
              "明天": 1, "明日": 1, "tomorrow": 1, "后天": 2}  # fmt: skip
_NOW_WORDS = {"刚刚", "现在", "刚才", "now", "just now", "right now"}
_PERIODS_PM = ("下午", "晚上", "傍晚", "夜里", "夜间", "pm", "p.m.")
_PERIODS_AM = ("凌晨", "早上", "早晨", "上午", "清晨", "am", "a.m.")

_REL_RE = re.compile(
    r"^(?P<in>in\s+)?(?P<n>\d+(?:\.\d+)?|半)\s*(?:个)?\s*"
    r"(?P<unit>分钟|分|小时|钟头|天|mins?|minutes?|m|hours?|hrs?|h|days?|d)"
    r"\s*(?P<dir>前|以前|之前|ago|后|以后|之后|later)?$"
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


@dataclass(frozen=True)
class Window:
    """Which times a field accepts, relative to now: `past` back and `future` ahead (None: no limit)."""

    past: timedelta | None = MAX_AGE
    future: timedelta | None = FUTURE_TOLERANCE

    def contains(self, value: datetime, now: datetime) -> bool:
        return (self.past is None or value >= now - self.past) and (self.future is None or value <= now + self.future)


OCCURRENCE = Window()


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


def parse_datetime(text: str, now: datetime, tz: tzinfo, window: Window = OCCURRENCE) -> Ok[datetime] | Invalid:
    """Parse a time typed in Chinese or English; an aware datetime in tz, inside the field's window.

    A time that is understood but outside the window is refused with the reason (future, too old),
    never as "not understood".
    """
    raw = normalize(text)
    if not raw:
        return Invalid(N_("error.time_format"))
    local_now = now.astimezone(tz)
    result = _parse_datetime(raw, local_now, tz, window)
    if result is None:
        return Invalid(N_("error.time_format"))
    if isinstance(result, Invalid):
        return result
    return _check_window(result, local_now, window)


def _check_window(value: datetime, now: datetime, window: Window) -> Ok[datetime] | Invalid:
    if window.future is not None and value > now + window.future:
        if window.future <= timedelta(hours=1):
            return Invalid(N_("error.time_future"))
        return Invalid(N_("error.time_after_limit"), {"limit": format_local(now + window.future, now.tzinfo or UTC)})
    if window.past is not None and value < now - window.past:
        if window.past >= timedelta(days=1):
            return Invalid(N_("error.time_too_old"), {"days": window.past.days})
        return Invalid(N_("error.time_before_limit"), {"limit": format_local(now - window.past, now.tzinfo or UTC)})
    return Ok(value)


def _parse_datetime(raw: str, now: datetime, tz: tzinfo, window: Window) -> datetime | Invalid | None:
    if raw in _NOW_WORDS:
        return now
    rel = _REL_RE.match(replace_cn_numerals(raw, small=True))
    if rel:
        n = 0.5 if rel["n"] == "半" else float(rel["n"])
        unit = rel["unit"]
        if unit in ("分钟", "分", "min", "mins", "minute", "minutes", "m"):
            delta = timedelta(minutes=n)
        elif unit in ("天", "day", "days", "d"):
            delta = timedelta(days=n)
        else:
            delta = timedelta(hours=n)
        ahead = bool(rel["in"]) or rel["dir"] in ("后", "以后", "之后", "later")
        return now + delta if ahead else now - delta
    if _ISO_RE.match(raw):
        try:
            value = datetime.fromisoformat(raw.upper().replace("Z", "+00:00"))
        except ValueError:
            return Invalid(N_("error.time_invalid_date"))
        return (value if value.tzinfo else value.replace(tzinfo=tz)).astimezone(tz)

    rest = replace_cn_numerals(raw, small=True)
    day: date | None = None
    explicit_year = False
    for word, offset in _DAY_WORDS.items():
        if rest.startswith(word):
            day = (now + timedelta(days=offset)).date()
            rest = rest[len(word) :].strip()
            explicit_year = True  # "昨天" names one day: never another year's
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
    rest = rest.strip()
    if not rest:
        if day is None:
            return None
        whole_day = datetime.combine(day, time(0, 0), tzinfo=tz)
        if window.future is not None and whole_day > now + window.future:
            return whole_day  # any time of that day lies beyond the window: say so, not "give the clock"
        return Invalid(N_("error.time_need_clock"))
    if rest in _PERIODS_PM or rest in _PERIODS_AM:  # "明天下午": a day and a part of it
        if day is not None and datetime.combine(day, time(0, 0), tzinfo=tz) > now + (window.future or timedelta.max):
            return datetime.combine(day, time(0, 0), tzinfo=tz)
        return Invalid(N_("error.time_need_clock")) if day is not None else None
    clock = _parse_clock(rest)
    if clock is None:
        return None
    value = datetime.combine(day or now.date(), time(*clock), tzinfo=tz)
    shifts: tuple[timedelta, ...]
    if day is None:  # a bare clock: the nearest day that fits ("23:50" just after midnight means yesterday)
        shifts = (timedelta(0), timedelta(days=-1), timedelta(days=1))
    elif not explicit_year:  # "12月31日" typed in January is last year's
        shifts = (timedelta(0),)
        for years in (-1, 1):
            with contextlib.suppress(ValueError):  # 29 February
                shifts += (value.replace(year=value.year + years) - value,)
    else:
        shifts = (timedelta(0),)
    for shift in shifts:
        if window.contains(value + shift, now):
            return value + shift
    return value


# ---- numbers ----------------------------------------------------------------------------------
def parse_count(text: str) -> Ok[int | None] | Invalid:
    """A number of people, or unknown (None): '12', '12人', '一百二十人', '不详'."""
    raw = normalize(text).removesuffix("人").removesuffix("名").strip()
    if raw in UNKNOWN_WORDS:
        return Ok(None)
    return _count(replace_cn_numerals(raw))


def _count(raw: str) -> Ok[int | None] | Invalid:
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
    ("死亡", "deaths"), ("遇难", "deaths"), ("身亡", "deaths"), ("死", "deaths"), ("deaths", "deaths"),
    ("death", "deaths"), ("dead", "deaths"), ("killed", "deaths"),
    ("失踪", "missing"), ("失联", "missing"), ("missing", "missing"),
    ("被困", "trapped"), ("受困", "trapped"), ("trapped", "trapped"),
    ("受伤", "injured"), ("轻伤", "injured"), ("伤", "injured"), ("injuries", "injured"), ("injured", "injured"),
    ("injury", "injured"), ("hurt", "injured"),
)  # fmt: skip
_WORDS = dict(_CASUALTY_WORDS)
_CW = "|".join(re.escape(w) for w in sorted(_WORDS, key=len, reverse=True))
_UNKNOWN_VAL = r"不详|未知|不清楚|不明|unknown|\?"
_CAS_TOKEN = re.compile(rf"(?P<key>{_CW})|(?P<val>-?\s*\d+(?:\.\d+)?|{_UNKNOWN_VAL})")
_CAS_FILLER = re.compile(r"(?:[\s，,、;；。.:：=()（）]|人|名|例|和|及|and|约|有|其中)+")
NONE_WORDS = {"无", "没有", "无伤亡", "none", "no casualties", "0", "nil"}


def parse_casualties(text: str) -> Ok[dict[str, int | None]] | Invalid:
    """'死亡2 受伤5 失踪0', '3人死亡2人受伤', '受伤一百二十人', '不详', or by position
    '2/5/0' (deaths/injured/missing/serious/trapped).

    Returns only the figures mentioned (a figure given as unknown is None); the form merges them.
    """
    raw = normalize(text)
    if raw in UNKNOWN_WORDS:
        return Ok(dict.fromkeys(CASUALTY_KEYS))
    if raw in NONE_WORDS:
        return Ok(dict.fromkeys(CASUALTY_KEYS, 0))
    raw = replace_cn_numerals(raw)
    tokens = _casualty_tokens(raw)
    if tokens is not None and any(kind == "key" for kind, _ in tokens):
        return _paired(tokens)
    if re.search(_CW, raw):  # words for figures, with something we do not understand
        return Invalid(N_("error.casualties_format"))
    parts = [p for p in re.split(r"[/,、\s]+", raw) if p]
    if 1 < len(parts) <= len(CASUALTY_KEYS):
        found: dict[str, int | None] = {}
        for key, part in zip(CASUALTY_KEYS, parts, strict=False):
            result = _figure(part)
            if isinstance(result, Invalid):
                return Invalid(result.msgid, {**result.params, "what": key})
            found[key] = result.value
        return Ok(found)
    return Invalid(N_("error.casualties_format"))


def _casualty_tokens(raw: str) -> list[tuple[str, str]] | None:
    """Figures and the words naming them, in order; None when something else is in the text."""
    tokens, pos = [], 0
    while pos < len(raw):
        filler = _CAS_FILLER.match(raw, pos)
        if filler:
            pos = filler.end()
            continue
        m = _CAS_TOKEN.match(raw, pos)
        if not m:
            return None
        tokens.append(("key", _WORDS[m["key"]]) if m["key"] else ("val", m["val"]))
        pos = m.end()
    return tokens


def _figure(text: str) -> Ok[int | None] | Invalid:
    return Ok(None) if text in UNKNOWN_WORDS or text == "不明" else _count(re.sub(r"\s+", "", text))


def _paired(tokens: list[tuple[str, str]]) -> Ok[dict[str, int | None]] | Invalid:
    """Pair each word with its figure, figure first ('3人死亡') or word first ('死亡3') alike."""
    found: dict[str, int | None] = {}
    i = 0
    while i < len(tokens):
        pair = tokens[i : i + 2]
        if len(pair) < 2 or pair[0][0] == pair[1][0]:
            return Invalid(N_("error.casualties_format"))
        key = pair[0][1] if pair[0][0] == "key" else pair[1][1]
        value = pair[1][1] if pair[0][0] == "key" else pair[0][1]
        result = _figure(value)
        if isinstance(result, Invalid):
            return Invalid(result.msgid, {**result.params, "what": key})
        found[key] = result.value
        i += 2
    return Ok(found)


_MULTIPLIERS = {
    "": 1, "元": 1, "千": 1000, "k": 1000, "万": 10**4, "w": 10**4, "十万": 10**5, "百万": 10**6, "m": 10**6,
    "million": 10**6, "千万": 10**7, "亿": 10**8, "billion": 10**9, "万元": 10**4, "亿元": 10**8, "千元": 1000,
}  # fmt: skip
_APPROX = re.compile(r"^(约合|约计|大约|约|估计|预计|初步估计|近|超过|逾)|(左右|余|多)(?=[万亿千元]*$)")


def parse_money(text: str) -> Ok[int | None] | Invalid:
    """'350万', '1.2亿', '3,500,000', '5000元', '约350万元', '三百五十万', 'unknown' -> yuan (None when unknown)."""
    raw = normalize(text)
    if raw in UNKNOWN_WORDS:
        return Ok(None)
    raw = re.sub(r"(人民币|rmb|cny|yuan|¥|￥|,|\s)", "", raw)
    raw = _APPROX.sub("", raw)  # an estimate is what the field asks for: "约", "左右", "余" change nothing
    raw = raw.removesuffix("元") if not raw.endswith(("万元", "亿元", "千元")) else raw
    m = re.fullmatch(r"(?P<neg>-)?(?P<n>\d+(?:\.\d+)?)(?P<unit>[a-z\u4e00-\u9fff]*)", raw)
    value: Decimal | None
    if m and m["unit"] in _MULTIPLIERS:
        if m["neg"]:
            return Invalid(N_("error.money_negative"))
        try:
            value = Decimal(m["n"]) * _MULTIPLIERS[m["unit"]]
        except InvalidOperation:
            return Invalid(N_("error.money_format"))
    else:
        if raw.startswith("-"):
            return Invalid(N_("error.money_negative"))
        value = cn_number(raw.removesuffix("元")) if raw else None  # 三百五十万, 3万5千, 一点二亿
        if value is None:
            return Invalid(N_("error.money_format"))
    if value > MAX_MONEY:
        return Invalid(N_("error.money_absurd"))
    return Ok(int(value.to_integral_value()))


_PHONE_RE = re.compile(r"(\+?\d[\d\- ]{4,18}\d)")


def parse_contact(text: str) -> Ok[dict[str, str]] | Invalid:
    """'王某 13800000000' -> name and phone (both needed)."""
    raw = strip_invisible(unicodedata.normalize("NFKC", text)).strip()
    m = _PHONE_RE.search(raw)
    if not m:
        return Invalid(N_("error.contact_format"))
    name = (raw[: m.start()] + raw[m.end() :]).strip(" ,，:：;；/")
    name = re.sub(r"^(负责人|姓名|name)[:：]?\s*", "", name, flags=re.IGNORECASE).strip()
    if not name or len(name) > 100:
        return Invalid(N_("error.contact_format"))
    return Ok({"name": name, "phone": re.sub(r"[\s-]", "", m.group(1))})
