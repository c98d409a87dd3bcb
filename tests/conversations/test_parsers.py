"""What a reporter types, parsed or refused with a reason."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from conversations.parsers import Invalid, Ok, parse_casualties, parse_contact, parse_count, parse_datetime, parse_money

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 23, 16, 0, tzinfo=TZ)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("14:30", "2026-11-23 14:30"),
        ("今天14:30", "2026-11-23 14:30"),
        ("昨天 21:10", "2026-11-22 21:10"),
        ("昨天下午3点", "2026-11-22 15:00"),
        ("11月22日9时", "2026-11-22 09:00"),
        ("30分钟前", "2026-11-23 15:30"),
        ("2小时前", "2026-11-23 14:00"),
        ("两小时前", "2026-11-23 14:00"),
        ("半小时前", "2026-11-23 15:30"),
        ("2026-11-23 14:30", "2026-11-23 14:30"),
        ("2026-11-23T14:30", "2026-11-23 14:30"),
        ("2026-11-23T06:30Z", "2026-11-23 14:30"),
        ("today 14:30", "2026-11-23 14:30"),
        ("yesterday 21:10", "2026-11-22 21:10"),
        ("yesterday 3pm", "2026-11-22 15:00"),
        ("30 min ago", "2026-11-23 15:30"),
        ("2 hours ago", "2026-11-23 14:00"),
        ("Nov 22 9:00", "2026-11-22 09:00"),
        ("22 Nov 09:00", "2026-11-22 09:00"),
        ("刚刚", "2026-11-23 16:00"),
        ("now", "2026-11-23 16:00"),
        ("下午3点半", "2026-11-23 15:30"),
        ("１４：３０", "2026-11-23 14:30"),
        ("16:04", "2026-11-23 16:04"),
        ("23:50", "2026-11-22 23:50"),  # a bare time later than now means yesterday
    ],
)
def test_times(text: str, expected: str) -> None:
    result = parse_datetime(text, NOW, TZ)
    assert isinstance(result, Ok), result
    assert result.value.astimezone(TZ).strftime("%Y-%m-%d %H:%M") == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2026-11-23 16:06", "error.time_future"),
        ("今天 16:10", "error.time_future"),
        ("2026-10-01 10:00", "error.time_too_old"),
        ("31天前", "error.time_too_old"),
        ("2月30日 10:00", "error.time_invalid_date"),
        ("11月22日", "error.time_need_clock"),
        ("25:00", "error.time_format"),
        ("", "error.time_format"),
        ("asdf", "error.time_format"),
    ],
)
def test_bad_times(text: str, reason: str) -> None:
    result = parse_datetime(text, NOW, TZ)
    assert isinstance(result, Invalid) and result.msgid == reason


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("死亡2 受伤5 失踪0", {"deaths": 2, "injured": 5, "missing": 0}),
        ("2/5/0", {"deaths": 2, "injured": 5, "missing": 0}),
        ("2/5/0/1/3", {"deaths": 2, "injured": 5, "missing": 0, "serious": 1, "trapped": 3}),
        ("2人死亡，3人受伤", {"deaths": 2, "injured": 3}),
        ("重伤3", {"serious": 3}),
        ("死亡不详 受伤2", {"deaths": None, "injured": 2}),
        ("dead 2, injured 5", {"deaths": 2, "injured": 5}),
        ("不详", dict.fromkeys(("deaths", "injured", "missing", "serious", "trapped"))),
        ("无", dict.fromkeys(("deaths", "injured", "missing", "serious", "trapped"), 0)),
        ("被困十二", {"trapped": 12}),
    ],
)
def test_casualties(text: str, expected: dict[str, int | None]) -> None:
    assert parse_casualties(text) == Ok(expected)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("死亡-1", "error.count_negative"),
        ("死亡2.5", "error.count_decimal"),
        ("受伤100001", "error.count_absurd"),
        ("hello", "error.casualties_format"),
        ("死亡2 blah", "error.casualties_format"),
        ("1/2/3/4/5/6", "error.casualties_format"),
    ],
)
def test_bad_casualties(text: str, reason: str) -> None:
    result = parse_casualties(text)
    assert isinstance(result, Invalid) and result.msgid == reason


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("350万", 3_500_000),
        ("1.2亿", 120_000_000),
        ("3500000", 3_500_000),
        ("3,500,000元", 3_500_000),
        ("1.5万元", 15_000),
        ("unknown", None),
        ("不详", None),
        ("0", 0),
    ],
)
def test_money(text: str, expected: int | None) -> None:
    assert parse_money(text) == Ok(expected)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("-5", "error.money_negative"),
        ("abc", "error.money_format"),
        ("100001亿", "error.money_absurd"),
        ("3.5.5万", "error.money_format"),
    ],
)
def test_bad_money(text: str, reason: str) -> None:
    result = parse_money(text)
    assert isinstance(result, Invalid) and result.msgid == reason


def test_count_and_contact() -> None:
    assert parse_count("12") == Ok(12) and parse_count("不详") == Ok(None) and parse_count("12人") == Ok(12)
    assert isinstance(parse_count("-1"), Invalid) and isinstance(parse_count("1.5"), Invalid)
    assert isinstance(parse_count("100001"), Invalid) and isinstance(parse_count("many"), Invalid)
    assert parse_contact("王某 138-0000-0001") == Ok({"name": "王某", "phone": "13800000001"})
    assert isinstance(parse_contact("王某"), Invalid) and isinstance(parse_contact("13800000001"), Invalid)
