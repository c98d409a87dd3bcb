"""CAP 1.2 (OASIS Common Alerting Protocol; GB/T 35965.1 follows its structure) out and in, with the mapping
of domain rules §5: level → severity, issue/adjust/lift → Alert/Update/Cancel with `references`, drill →
Exercise, a zh-CN and an en <info> block, times with a +08:00-style offset as the schema's pattern requires.

Files from outside are untrusted: defusedxml parses them (no DTD, so no entity expansion and no external
entity), the size is capped before parsing, and the official OASIS schema (data/CAP-v1.2.xsd, with its
notice) checks the structure, with the error naming the element and the reason. Pure: no I/O beyond
reading the schema shipped beside this module."""

from __future__ import annotations

import functools
import html
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.domain.categories import BY_CODE, subtype_label
from bot.domain.clock import FIRST_DAY, LAST_DAY, supported
from bot.domain.warnings import (
    CAP_CATEGORY,
    CAP_CATEGORY_DEFAULT,
    FROM_CAP_CATEGORY,
    LEVEL_OF_SEVERITY,
    SEVERITY,
    URGENCY,
    Level,
    headline,
)

if TYPE_CHECKING:  # the XML libraries (about 0.8 MB) are loaded when a CAP file is written or read, not at start
    import xml.etree.ElementTree as ET

NS = "urn:oasis:names:tc:emergency:cap:1.2"
SCHEMA_FILE = Path(__file__).with_name("data") / "CAP-v1.2.xsd"
MAX_BYTES = 256 * 1024  # a warning is a few KB; anything near this is not one
MSG_TYPES = {"alert": "Alert", "update": "Update", "cancel": "Cancel"}
LANGUAGES = ("zh-CN", "en")
PARAM = "kuaibao:"  # our own <parameter> names, so a round trip keeps what CAP has no element for
Translate = Callable[..., str]


class CapError(Exception):
    """A file that is not a CAP 1.2 warning we can take: which element, and why."""

    def __init__(self, element: str, reason: str) -> None:
        super().__init__(f"{element}: {reason}")
        self.element, self.reason = element, reason


@dataclass(frozen=True)
class CapMessage:
    identifier: str
    sender: str
    sent: datetime
    msg_type: str  # alert | update | cancel
    fields: Mapping[str, Any]  # the bulletin (bot.domain.warnings.FIELDS)
    references: Sequence[str] = ()  # "sender,identifier,sent" of earlier messages
    missing: tuple[str, ...] = field(default=())  # bulletin fields the file did not give (an import asks them)


def _q(tag: str) -> str:
    return f"{{{NS}}}{tag}"


def _time(value: Any, tz: tzinfo) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.astimezone(tz).replace(microsecond=0).isoformat()


def _sub(parent: ET.Element, tag: str, text: str | None) -> None:
    import xml.etree.ElementTree as ET

    if text:
        ET.SubElement(parent, _q(tag)).text = text


def reference(sender: str, identifier: str, sent: datetime, tz: tzinfo) -> str:
    return f"{sender},{identifier},{_time(sent, tz)}"


def to_xml(message: CapMessage, tz: tzinfo, translators: Mapping[str, Translate]) -> bytes:
    """The message as CAP 1.2 XML (UTF-8), one <info> per language in `translators` (zh-CN, en)."""
    import xml.etree.ElementTree as ET

    f = message.fields
    ET.register_namespace("", NS)
    root = ET.Element(_q("alert"))
    _sub(root, "identifier", message.identifier)
    _sub(root, "sender", message.sender)
    _sub(root, "sent", _time(message.sent, tz))
    _sub(root, "status", "Exercise" if f.get("drill") else "Actual")
    _sub(root, "msgType", MSG_TYPES[message.msg_type])
    _sub(root, "scope", "Public")
    if f.get("drill"):
        _sub(root, "note", "演练 Exercise")
    if message.references:
        _sub(root, "references", " ".join(message.references))
    level = Level(str(f["level"]))
    category, subtype = str(f.get("category") or ""), str(f.get("subtype") or "")
    for language, tr in translators.items():
        info = ET.SubElement(root, _q("info"))
        _sub(info, "language", language)
        _sub(info, "category", CAP_CATEGORY.get((category, subtype), CAP_CATEGORY_DEFAULT.get(category, "Other")))
        label = subtype_label(category, subtype)
        event = str(f.get("event") or "") or (tr(label) if label else tr(BY_CODE[category].label))
        _sub(info, "event", event)
        _sub(info, "responseType", "AllClear" if message.msg_type == "cancel" else "Prepare")
        _sub(info, "urgency", "Past" if message.msg_type == "cancel" else URGENCY[level])
        _sub(info, "severity", SEVERITY[level])
        _sub(info, "certainty", "Likely")
        _sub(info, "effective", _time(message.sent, tz))
        _sub(info, "onset", _time(f["onset"], tz))
        _sub(info, "expires", _time(f["expires"], tz))
        _sub(info, "senderName", str(f.get("authority") or ""))
        _sub(info, "headline", html.unescape(headline(f, tr)))  # HTML for Telegram, plain text here
        _sub(info, "description", str(f.get("text") or ""))
        _sub(info, "instruction", str(f.get("measures") or ""))
        _sub(info, "contact", str(f.get("phone") or ""))
        for name in ("level", "category", "subtype"):
            value = {"level": level.value, "category": category, "subtype": subtype}[name]
            if value:
                param = ET.SubElement(info, _q("parameter"))
                _sub(param, "valueName", PARAM + name)
                _sub(param, "value", value)
        area = ET.SubElement(info, _q("area"))
        _sub(area, "areaDesc", str(f.get("area") or ""))
    ET.indent(root)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + bytes(ET.tostring(root, encoding="utf-8"))


@functools.cache
def schema() -> Any:
    """The OASIS CAP 1.2 schema (loaded once; xmlschema: a maintained validator)."""
    import xmlschema

    return xmlschema.XMLSchema(str(SCHEMA_FILE))


def validate(root: ET.Element) -> None:
    """Raise CapError naming the first element that breaks the schema, and why."""
    for error in schema().iter_errors(root):
        path = getattr(error, "path", None) or "alert"
        element = path.rsplit("/", 1)[-1].split("}")[-1] or "alert"
        reason = getattr(error, "reason", None) or str(error).splitlines()[0]
        raise CapError(element, str(reason))


def parse_tree(data: bytes, max_bytes: int = MAX_BYTES) -> ET.Element:
    """Untrusted bytes to an element tree: size capped, no DTD, no entities, no external references."""
    import xml.etree.ElementTree as ET

    import defusedxml.ElementTree as SafeET
    from defusedxml import DefusedXmlException

    if len(data) > max_bytes:
        raise CapError("file", f"{len(data)} bytes is over the {max_bytes}-byte limit")
    if not data.strip():
        raise CapError("file", "empty")
    try:
        root: ET.Element = SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise CapError("DOCTYPE", f"refused ({type(exc).__name__}): DTDs and entities are not allowed") from None
    except ET.ParseError as exc:
        line, column = getattr(exc, "position", (0, 0))
        raise CapError(f"line {line}, column {column}", "not well-formed XML") from None
    if root.tag != _q("alert"):
        raise CapError(root.tag.split("}")[-1], f"the root must be <alert> in the CAP 1.2 namespace {NS}")
    return root


def _moment(value: str, element: str) -> datetime:
    """A CAP time (the schema checked its form), refused by name when it is not a moment we keep."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CapError(element, f"{value!r} is not a time") from None
    if not supported(moment):
        raise CapError(element, f"{value} is outside {FIRST_DAY}..{LAST_DAY}")
    return moment


def parse(data: bytes, tz: tzinfo, max_bytes: int = MAX_BYTES) -> CapMessage:
    """A CAP 1.2 file as a warning: checked against the schema, then mapped back (our own parameters first,
    else the nearest of our categories and the level by severity)."""
    root = parse_tree(data, max_bytes)
    validate(root)

    def text(parent: ET.Element, tag: str) -> str:
        node = parent.find(_q(tag))
        return (node.text or "").strip() if node is not None else ""

    infos = root.findall(_q("info"))
    if not infos:
        raise CapError("info", "a warning needs at least one <info> block")
    info = next((i for i in infos if text(i, "language").lower().startswith("zh")), infos[0])
    params = {
        text(p, "valueName").removeprefix(PARAM): text(p, "value")
        for p in info.findall(_q("parameter"))
        if text(p, "valueName").startswith(PARAM)
    }
    severity = text(info, "severity")
    level = params.get("level", "")
    if level not in {x.value for x in Level}:  # a file from elsewhere: the level by its severity
        level = LEVEL_OF_SEVERITY[severity].value if severity in LEVEL_OF_SEVERITY else ""
    if not level:
        raise CapError("severity", f"{severity!r} maps to no warning level (Extreme, Severe, Moderate or Minor)")
    category, subtype = params.get("category", ""), params.get("subtype", "")
    if category not in BY_CODE or not BY_CODE[category].pre_warned or subtype not in dict(BY_CODE[category].subtypes):
        cap_category = text(info, "category")
        category, subtype = FROM_CAP_CATEGORY.get(cap_category, FROM_CAP_CATEGORY["Other"])
    sent = _moment(text(root, "sent"), "sent")
    onset_s, expires_s = text(info, "onset") or text(info, "effective"), text(info, "expires")
    onset = _moment(onset_s, "onset") if onset_s else sent
    fields: dict[str, Any] = {
        "category": category,
        "subtype": subtype,
        "event": text(info, "event")[:30],
        "level": level,
        "area": "; ".join(text(a, "areaDesc") for a in info.findall(_q("area")) if text(a, "areaDesc"))[:500],
        "onset": onset.astimezone(UTC).isoformat(),
        "expires": _moment(expires_s, "expires").astimezone(UTC).isoformat() if expires_s else None,
        "text": (text(info, "description") or text(info, "headline"))[:1500],
        "measures": text(info, "instruction")[:1500],
        "authority": (text(info, "senderName") or text(root, "sender"))[:200],
        "phone": text(info, "contact")[:40] or None,
        "drill": text(root, "status") == "Exercise",
    }
    missing = tuple(k for k in ("area", "expires", "text", "measures") if not fields.get(k))
    msg_type = {v: k for k, v in MSG_TYPES.items()}.get(text(root, "msgType"), "alert")
    return CapMessage(
        identifier=text(root, "identifier"),
        sender=text(root, "sender"),
        sent=sent,
        msg_type=msg_type,
        fields=fields,
        references=tuple(text(root, "references").split()),
        missing=missing,
    )
