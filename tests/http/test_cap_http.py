"""CAP 1.2 out and in: the export validates against the official OASIS schema with the §5 mapping, a round
trip through the CLI gives the same warning, a publisher's file opens a draft, and malformed, oversized and
hostile files (entity expansion, external entities) get a clear answer naming the problem."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.app.settings import DEFAULT_LOCALES_DIR
from bot.domain import cap
from bot.telegram.i18n import Catalogs
from storage.models import Warning
from tests.broadcasting import PUBLISHER, publish, seed_recipients
from tests.conftest import Harness
from tests.reporting import Reporter
from tests.subproc import bot_env, cli

TZ = ZoneInfo("Asia/Shanghai")
CATALOGS = Catalogs(DEFAULT_LOCALES_DIR, "zh_Hans")
TRANSLATORS = {"zh-CN": CATALOGS.translator("zh_Hans"), "en": CATALOGS.translator("en")}
FIELDS = {"category": "accident", "subtype": "industrial", "event": "危化品泄漏", "level": "orange",
          "area": "化工园区 & 周边3公里", "onset": "2026-11-24T02:00:00+00:00",
          "expires": "2026-11-25T02:00:00+00:00", "text": "储罐<泄漏>，可能扩散",
          "measures": "周边群众立即撤离", "authority": "市应急管理局", "phone": "12350", "drill": True}  # fmt: skip


def message(msg_type: str = "alert", references: tuple[str, ...] = ()) -> cap.CapMessage:
    sent = datetime(2026, 11, 24, 2, 5, tzinfo=UTC)
    return cap.CapMessage("YJ-20261124-007", "kuaibao@city", sent, msg_type, FIELDS, references)


def text_of(xml: bytes, tag: str) -> list[str]:
    root = cap.parse_tree(xml)
    return [(e.text or "") for e in root.iter(f"{{{cap.NS}}}{tag}")]


@pytest.mark.parametrize("msg_type", ["alert", "update", "cancel"])
def test_export_validates_against_the_oasis_schema_with_the_mapping(msg_type: str) -> None:
    refs = () if msg_type == "alert" else ("kuaibao@city,YJ-20261124-006,2026-11-24T10:00:00+08:00",)
    xml = cap.to_xml(message(msg_type, refs), TZ, TRANSLATORS)
    cap.validate(cap.parse_tree(xml))  # raises on any schema error
    assert text_of(xml, "msgType") == [{"alert": "Alert", "update": "Update", "cancel": "Cancel"}[msg_type]]
    assert text_of(xml, "status") == ["Exercise"]  # a drill
    assert text_of(xml, "severity") == ["Severe", "Severe"]  # orange, in the zh-CN and the en block
    assert text_of(xml, "language") == ["zh-CN", "en"]
    assert text_of(xml, "category") == ["Safety", "Safety"]
    assert text_of(xml, "sent") == ["2026-11-24T10:05:00+08:00"]  # the offset the schema's pattern asks for
    assert text_of(xml, "onset")[0] == "2026-11-24T10:00:00+08:00"
    assert text_of(xml, "references") == ([] if msg_type == "alert" else list(refs))
    assert "危化品泄漏橙色（二级）预警" in text_of(xml, "headline")[0]
    assert "Orange (level II) warning" in text_of(xml, "headline")[1]


@pytest.mark.parametrize(
    ("level", "severity"), [("red", "Extreme"), ("orange", "Severe"), ("yellow", "Moderate"), ("blue", "Minor")]
)
def test_every_level_maps_to_its_severity_and_back(level: str, severity: str) -> None:
    xml = cap.to_xml(
        cap.CapMessage("X-1", "s", datetime.now(UTC), "alert", {**FIELDS, "level": level}), TZ, TRANSLATORS
    )
    assert text_of(xml, "severity")[0] == severity
    foreign = xml.replace(f"<value>{level}</value>".encode(), b"<value>?</value>")  # no parameter of ours
    assert cap.parse(foreign, TZ).fields["level"] == level


def test_parse_gives_back_the_same_fields() -> None:
    back = cap.parse(cap.to_xml(message(), TZ, TRANSLATORS), TZ)
    for key, value in FIELDS.items():
        if key in ("onset", "expires"):
            assert datetime.fromisoformat(back.fields[key]) == datetime.fromisoformat(str(value))
        else:
            assert back.fields[key] == value, key
    assert (back.identifier, back.sender, back.msg_type) == ("YJ-20261124-007", "kuaibao@city", "alert")


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&lol3;</identifier></alert>"""
EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE alert [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&xxe;</identifier></alert>"""


@pytest.mark.parametrize(
    ("data", "element", "reason"),
    [
        (BILLION_LAUGHS, "DOCTYPE", "not allowed"),
        (EXTERNAL, "DOCTYPE", "not allowed"),
        (b"<alert><unclosed></alert>", "line 1", "not well-formed"),
        (b"", "file", "empty"),
        (b"<x/>" + b" " * (cap.MAX_BYTES + 1), "file", "limit"),
        (b'<alert xmlns="urn:other"/>', "alert", "CAP 1.2 namespace"),
    ],
)
def test_hostile_and_malformed_files_are_refused_naming_the_problem(data: bytes, element: str, reason: str) -> None:
    with pytest.raises(cap.CapError) as caught:
        cap.parse(data, TZ)
    assert caught.value.element.startswith(element) and reason in caught.value.reason


def test_a_schema_error_names_the_element_and_why() -> None:
    xml = cap.to_xml(message(), TZ, TRANSLATORS)
    with pytest.raises(cap.CapError) as caught:
        cap.parse(xml.replace(b"<urgency>Immediate</urgency>", b"<urgency>Soon</urgency>"), TZ)
    assert caught.value.element == "urgency" and "Immediate" in caught.value.reason
    with pytest.raises(cap.CapError) as caught:
        cap.parse(xml.replace(b"<sent>2026-11-24T10:05:00+08:00</sent>", b"<sent>2026-11-24 10:05</sent>"), TZ)
    assert caught.value.element == "sent"
    for far in (b"0001-01-01T00:00:00+08:00", b"9999-12-31T23:59:59-08:00"):  # valid for the schema, not for us
        with pytest.raises(cap.CapError) as caught:
            cap.parse(xml.replace(b"2026-11-24T10:05:00+08:00", far), TZ)
        assert caught.value.element == "sent" and "outside 1970-01-01..2099-12-31" in caught.value.reason


async def test_round_trip_through_the_cli_gives_the_same_warning(harness: Harness, db_url: str, tmp_path: Path) -> None:
    await harness.seed()
    unit_id = await seed_recipients(harness.app.sessionmaker, 3, 0)
    config = harness.app.dp["update_context"].config
    filed = await publish(harness.app.sessionmaker, config, unit_id, level="yellow", drill="yes", phone="12121")
    env = bot_env(harness.api, db_url)
    out = tmp_path / "w.xml"
    code, _stdout, err = await cli(env, "warnings", "export-cap", filed.number, "--out", str(out))
    assert code == 0, err
    data = out.read_bytes()
    cap.validate(cap.parse_tree(data))
    code, stdout, err = await cli(env, "warnings", "import-cap", str(out), "--by", str(PUBLISHER), "--unit", "bulk")
    assert code == 0, err
    assert "published to 4 recipients" in stdout  # yellow: no approval
    async with harness.repos() as repos:
        original, imported = list(await repos.session.scalars(select(Warning).order_by(Warning.id)))
    assert imported.source == "cap" and filed.number in (imported.cap_ref or "")
    for key in ("category", "subtype", "event", "level", "area", "text", "measures", "authority", "phone", "drill"):
        assert imported.fields[key] == original.fields[key], key
    assert imported.onset_at == original.onset_at.replace(microsecond=0)
    assert imported.expires_at == original.expires_at.replace(microsecond=0)
    # a bad file: exit 1 with the element and the reason
    bad = tmp_path / "bad.xml"
    bad.write_bytes(EXTERNAL)
    code, _stdout, err = await cli(env, "warnings", "import-cap", str(bad), "--by", str(PUBLISHER), "--unit", "bulk")
    assert code == 1 and "DOCTYPE" in err


async def test_a_publisher_exports_with_a_button_and_imports_by_sending_the_file(harness: Harness) -> None:
    await harness.seed()
    api = harness.api
    unit_id = await seed_recipients(harness.app.sessionmaker, 2, 0)
    config = harness.app.dp["update_context"].config
    filed = await publish(harness.app.sessionmaker, config, unit_id, level="blue")
    harness.app.broadcaster.wake()  # its bulletin (with a 收到 button) must not land in the middle of the form
    await api.wait_for(lambda: [s for s in api.in_chat(PUBLISHER) if "发送完成" in s.text], timeout=30)
    r = Reporter(api, PUBLISHER)
    await r.say("/warnings")
    await r.tap("CAP")
    await api.wait_for(lambda: [u for u in api.uploads if u[1] == f"{filed.number}.xml"])
    exported = next(u[2] for u in api.uploads if u[1] == f"{filed.number}.xml")
    cap.validate(cap.parse_tree(exported))
    # sending the file back opens a draft prefilled from it; the publisher then chooses the recipients
    before = len(api.in_chat(PUBLISHER))
    await api.send_document(PUBLISHER, "warning.xml", exported)
    opened = (await api.settle(PUBLISHER, before))[-1].text
    assert "CAP 文件导入" in opened and "发送给哪些单位" in opened  # the bulletin came from the file
    await r.tap("预警测试单位")
    await r.tap("下一步")
    await r.tap("是")
    await r.tap("下一步")
    review = await r.tap("是")
    assert "暴雨" in review and "收件人：3 人" in review
    before = len(api.in_chat(PUBLISHER))
    await api.send_document(PUBLISHER, "evil.xml", BILLION_LAUGHS)
    refused = (await api.wait_for(lambda: [s.text for s in api.in_chat(PUBLISHER)[before:] if "无法导入" in s.text]))[0]
    assert "无法导入" in refused and "<DOCTYPE>" in refused


def test_expired_warning_is_not_offered_to_the_form() -> None:
    from bot.usecases.warnings import cap_answers

    old = cap.CapMessage(
        "x", "s", datetime(2020, 1, 1, tzinfo=UTC), "alert", {**FIELDS, "expires": "2020-01-02T00:00:00+00:00"}
    )
    answers = cap_answers(old, datetime.now(UTC) + timedelta(seconds=1))
    assert "expires" not in answers and answers["drill"] == "yes"
