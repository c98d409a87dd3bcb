"""The form engine, field kind by field kind, with the bad inputs a reporter really sends."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.app.settings import DEFAULT_LOCALES_DIR
from bot.telegram.i18n import Catalogs
from conversations import engine as fe
from conversations.form import Field, Form
from conversations.initial_report import INITIAL_REPORT
from conversations.kinds import Count
from conversations.render import render

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 23, 16, 0, tzinfo=TZ)
TR = Catalogs(DEFAULT_LOCALES_DIR, "zh_Hans").translator("zh_Hans")
CTX = fe.Context(NOW, TZ, TR, {"profile_contact": {"name": "李报送", "phone": "13800000002"}})


class Walk:
    def __init__(self, form: Form = INITIAL_REPORT) -> None:
        self.engine = fe.Engine(form)
        self.draft = self.engine.new_draft("tok12345", NOW)
        self.last: fe.Outcome | None = None

    def __call__(self, event: Any) -> fe.Outcome:
        if isinstance(event, str):
            event = fe.Text(event)
        self.last = self.engine.handle(self.draft, event, CTX)
        self.draft = self.last.draft
        return self.last

    def tap(self, action: str, value: str = "") -> fe.Outcome:
        return self(fe.Action(action, value, step=self.engine.step_code(self.draft)))

    def grade(self) -> tuple[str, str | None]:
        g = self.engine.extras(self.draft, CTX)["grade"]
        return g["grade"], g["reason"]

    @property
    def at(self) -> str:
        return self.draft["cursor"] if self.draft["mode"] == "fill" else self.draft["mode"]

    @property
    def answers(self) -> dict[str, Any]:
        return self.draft["answers"]

    def error(self) -> str:
        assert self.last is not None and self.last.is_error, self.last
        msgid, params = self.last.notice  # type: ignore[misc]
        return TR(msgid, **params)

    def fill_to(self, field_id: str) -> None:
        script = {
            "occurred_at": lambda: self.tap("quick", "30"),
            "place": lambda: self("河堤"),
            "source": lambda: self("1"),
            "category": lambda: self.tap("choose", "accident"),
            "subtype": lambda: self.tap("choose", "traffic"),
            "description": lambda: self("货车与大巴相撞"),
            "units_involved": lambda: self.tap("skip"),
            "casualties": lambda: self("死亡3 受伤5"),
            "loss": lambda: self("350万"),
            "measures": lambda: self("封路"),
            "responsible": lambda: self.tap("prefill"),
            "attachments": lambda: self.tap("done"),
        }
        while self.at != field_id:
            script[self.at]()


def test_datetime_quick_typed_and_refused() -> None:
    w = Walk()
    w("某个时候")
    assert "没有看懂这个时间" in w.error() and w.at == "occurred_at"
    w("明天下午")  # understood, outside the window: the reason, not "not understood"
    assert w.error() == "发生时间不能晚于现在。"
    w("2026-11-23 17:00")
    assert w.error() == "发生时间不能晚于现在。"
    w("40天前")
    assert "30 天前" in w.error()
    assert w.tap("quick", "other").notice[0] == "hint.time_formats" and w.at == "occurred_at"
    w("昨天 21:10")
    assert w.answers["occurred_at"] == "2026-11-22T13:10:00+00:00" and w.at == "place"


def test_location_and_text_are_both_kept() -> None:
    w = Walk()
    w.fill_to("place")
    w(fe.Location(91.0, 10.0))
    assert "位置坐标无效" in w.error()
    w(fe.Location(31.2, 121.4))
    assert w.at == "place" and w.last.notice[0] == "notice.location_received"
    w("XX村河堤")
    assert w.answers["place"] == {"lat": 31.2, "lon": 121.4, "text": "XX村河堤"} and w.at == "source"


def test_location_step_keeps_photos_for_later_and_accepts_done_only_with_an_answer() -> None:
    w = Walk()
    w.fill_to("place")
    w(fe.Media("photo", "f", "u"))  # kept for the attachments step; the question stays
    assert w.last.notice[0] == "notice.media_kept" and not w.last.is_error and w.at == "place"
    assert w.answers["attachments"] == [{"kind": "photo", "file_id": "f", "file_unique_id": "u"}]
    w(fe.Unsupported("sticker"))
    assert "位置或地点描述" in w.error()
    w.tap("done")
    assert w.error() == "这一项必须填写。"


def test_multi_choice_toggle_type_and_free_text() -> None:
    w = Walk()
    w.fill_to("source")
    w.tap("done")
    assert w.error() == "这一项必须填写。"
    w.tap("toggle", "scene")
    w.tap("toggle", "public")
    w.tap("toggle", "scene")
    assert w.answers["source"]["selected"] == ["public"] and w.at == "source"
    w.tap("toggle", "nonsense")
    assert w.last.stale
    w.tap("done")
    assert w.at == "category"
    w.tap("back")
    w("村民电话报告")
    assert w.answers["source"] == {"selected": ["public"], "other": "村民电话报告"}


def test_choice_by_button_number_or_label_and_dependent_subtype() -> None:
    w = Walk()
    w.fill_to("category")
    w("9")
    assert "1. 自然灾害" in w.error()
    w(fe.Unsupported("sticker"))
    assert "从按钮中选择" in w.error()
    w("事故")
    assert w.answers["category"] == "accident" and w.at == "subtype"
    w("交通运输事故")
    assert w.answers["subtype"] == "traffic"
    w.fill_to("attachments")
    w.tap("done")
    assert w.at == "review"
    w.tap("edit", "category")
    w.tap("choose", "natural")  # the traffic sub-type no longer fits: asked again, then back to review
    assert w.at == "subtype" and "subtype" not in w.answers
    w.tap("choose", "geological")
    assert w.at == "review"


def test_text_empty_huge_and_sticker() -> None:
    w = Walk()
    w.fill_to("description")
    w("   ")
    assert w.error() == "内容不能为空。"
    w("长" * 3001)
    assert "3001" in w.error() and "3000" in w.error()
    w(fe.Unsupported("sticker"))
    assert w.error() == "这一步需要文字。"
    w(fe.Media("voice", "v", "uv"))  # a voice note where text is expected: kept, and the text still asked
    assert w.at == "description" and "语音已保存为附件" in TR(w.last.notice[0], **w.last.notice[1])
    w("\u200b\u3000 \u2800")  # invisible characters only
    assert w.error() == "内容不能为空。"


def test_casualties_merge_and_refusals() -> None:
    w = Walk()
    w.fill_to("casualties")
    for text, reason in [
        ("死亡-2", "不能为负数"),
        ("受伤2.5", "必须是整数"),
        ("死亡200000", "超过 100000"),
        ("很多人", "没有看懂伤亡数字"),
    ]:
        w(text)
        assert reason in w.error()
    w("死亡2 受伤5 失踪0")
    assert w.answers["casualties"] == {"deaths": 2, "injured": 5, "missing": 0, "serious": None, "trapped": None}
    w.tap("back")
    w("重伤1")  # one figure at a time updates, keeping the others
    assert w.answers["casualties"] == {"deaths": 2, "injured": 5, "missing": 0, "serious": 1, "trapped": None}
    w.tap("back")
    w.tap("quick", "unknown")
    assert set(w.answers["casualties"].values()) == {None}


def test_money_optional_unknown_and_refused() -> None:
    w = Walk()
    w.fill_to("loss")
    w("-5万")
    assert w.error() == "金额不能为负数。"
    w("一些钱")
    assert "没有看懂金额" in w.error()
    w("1.2亿")
    assert w.answers["loss"] == 120_000_000
    w.tap("back")
    w.tap("quick", "unknown")
    assert w.answers["loss"] == "unknown"
    w.tap("back")
    w.tap("skip")
    assert w.answers["loss"] is None and w.at == "measures"


def test_contact_prefilled_one_tap_or_typed() -> None:
    w = Walk()
    w.fill_to("responsible")
    w("只有名字")
    assert "姓名 电话" in w.error()
    w("王某 13900000000")
    assert w.answers["responsible"] == {"name": "王某", "phone": "13900000000"}
    w.tap("back")
    w.tap("prefill")
    assert w.answers["responsible"] == {"name": "李报送", "phone": "13800000002"}
    w.tap("back")
    w(fe.Contact("张三", "+8613700000000"))
    assert w.answers["responsible"]["phone"] == "+8613700000000"


def test_attachments_several_deduplicated_and_limited() -> None:
    w = Walk()
    w.fill_to("attachments")
    w("一张照片")
    assert "照片、视频、语音或文件" in w.error()
    w(fe.Media("photo", "p1", "u1"))
    w(fe.Media("photo", "p1-again", "u1"))  # the same picture twice
    w(fe.Media("document", "d1", "u2"))
    assert [a["file_id"] for a in w.answers["attachments"]] == ["p1", "d1"]
    for i in range(8):
        w(fe.Media("photo", f"x{i}", f"ux{i}"))
    w(fe.Media("photo", "one-too-many", "uz"))
    assert "最多可附 10 个附件" in w.error()
    w.tap("done")
    assert w.at == "review"


def test_integer_or_unknown_kind_in_another_form() -> None:
    form = Form(
        "count",
        1,
        "form.initial.title",
        (Field("affected", Count(), "field.casualties.label", "field.casualties.prompt"),),
        submit="none",
    )
    w = Walk(form)
    for text in ("-1", "1.5", "100001", "many"):
        w(text)
        assert w.last.is_error
    w("不详")
    assert w.answers["affected"] is None and w.at == "review"


def test_back_skip_and_cancel_confirmation() -> None:
    w = Walk()
    w.tap("back")
    assert w.last.notice[0] == "notice.first_step"
    w.fill_to("units_involved")
    w("返回")  # typed labels work like the buttons
    assert w.at == "description"
    w.fill_to("measures")
    w.tap("skip")
    assert w.error() == "这一项必须填写。"
    w("跳过")  # the typed word is not taken as the answer either
    assert w.error() == "这一项必须填写。" and "measures" not in w.answers
    w("/cancel")
    assert w.at == "cancel"
    w.tap("cancel_no")
    assert w.at == "measures"
    w.tap("cancel")
    out = w.tap("cancel_yes")
    assert out.cancelled


def test_stale_buttons_of_an_earlier_step_are_refused() -> None:
    w = Walk()
    w.fill_to("category")
    old_step = w.engine.step_code(w.draft)
    w.tap("choose", "accident")
    out = w(fe.Action("choose", "natural", step=old_step))
    assert out.stale and w.answers["category"] == "accident"


def test_review_grade_override_needs_a_reason() -> None:
    w = Walk()
    w.fill_to("attachments")
    w.tap("done")
    assert w.grade() == ("III", None)
    w.tap("grade")
    w.tap("set_grade", "II")
    assert w.at == "grade.reason"
    w("  ")
    assert w.error() == "内容不能为空。"
    w("现场仍有人员被困，可能升级")
    assert w.at == "review" and w.grade() == ("II", "现场仍有人员被困，可能升级")
    w.tap("grade")
    w.tap("set_grade", "III")  # back to the suggestion: no reason needed
    assert w.grade() == ("III", None)
    assert w.tap("submit").submit


def test_social_events_default_to_ungraded() -> None:
    w = Walk()
    w.fill_to("category")
    w.tap("choose", "social")
    w.tap("choose", "mass_incident")
    w.fill_to("attachments")
    w.tap("done")
    assert w.grade() == ("ungraded", None)


@pytest.mark.parametrize("locale", ["zh_Hans", "en"])
def test_every_screen_renders_with_step_numbers_and_escaped_text(locale: str) -> None:
    tr = Catalogs(DEFAULT_LOCALES_DIR, "zh_Hans").translator(locale)
    w = Walk()
    w.fill_to("description")
    w("<b>not bold</b> & more")
    w.fill_to("attachments")
    w.tap("done")
    ctx = fe.Context(NOW, TZ, tr, CTX.data)
    view = render(w.engine, w.draft, ctx)
    assert "&lt;b&gt;not bold&lt;/b&gt; &amp; more" in view.text
    buttons = [b for row in view.rows for b in row]
    assert sum(1 for b in buttons if b.action == "edit") == 12
    w.tap("edit", "loss")
    prompt = render(w.engine, w.draft, ctx)
    assert ("9/12" in prompt.text or "9 of 12" in prompt.text) and any(
        b.action == "skip" for row in prompt.rows for b in row
    )


# ---- the engine is generic: other forms, context, prefills, rules, versions, phone inputs ----------------
from datetime import timedelta  # noqa: E402

from conversations import kinds as k  # noqa: E402
from conversations.flash import FLASH_REPORT  # noqa: E402
from conversations.followup import FOLLOWUP_REPORT  # noqa: E402
from conversations.form import Option, Scope  # noqa: E402
from conversations.parsers import Invalid, Window  # noqa: E402
from conversations.rules import ends_after  # noqa: E402

SCOPE = Scope({}, {}, NOW, TZ, TR)
LAST = {"deaths": 2, "missing": 4, "serious": 1, "injured": 5, "trapped": 0}


def test_followup_starts_from_the_last_figures_and_a_lower_one_needs_a_correction() -> None:
    w = Walk(FOLLOWUP_REPORT)
    w.draft = w.engine.new_draft(
        "tok",
        NOW,
        initial={"casualties": LAST, "loss": 3_000_000},
        base={"casualties": LAST, "loss": 3_000_000},
        subject=7,
    )
    w("货车刹车失灵")
    w("道路已恢复单向通行")
    w.tap("skip")
    assert w.at == "casualties"
    view = render(w.engine, w.draft, CTX)
    assert "当前：死亡 2 · 失踪 4" in view.text and any(b.action == "keep" for r in view.rows for b in r)
    w("死亡3")  # one figure changes, the others stay as last reported
    assert w.answers["casualties"] == {**LAST, "deaths": 3} and w.at == "loss"
    w.tap("keep")
    assert w.at == "measures"  # nothing went down: no correction asked
    w.tap("back")
    w.tap("back")
    w("失踪1")
    w.tap("keep")
    assert w.at == "correction"  # missing 4 -> 1: why?
    w.tap("skip")
    assert w.error() == "这一项必须填写。"
    w("3名失踪人员已找到")
    w("继续搜救")
    w.tap("skip")
    w.tap("done")
    assert w.at == "review" and w.tap("submit").submit
    assert w.draft["subject"] == 7 and w.draft["version"] == FOLLOWUP_REPORT.version


def test_flash_report_walks_to_submit_with_a_suggested_grade() -> None:
    w = Walk(FLASH_REPORT)
    w("化工厂爆炸")
    w("XX化工园区")
    w.tap("quick", "0")
    w.tap("choose", "accident")
    w.tap("choose", "industrial")
    w("死亡12 失踪3")
    w.tap("done")
    assert w.at == "review" and w.grade() == ("II", None)
    assert w.tap("submit").submit


def test_options_come_from_the_context_and_prefill_from_the_caller() -> None:
    def open_incidents(answers: object, env: dict) -> tuple[Option, ...]:
        return tuple(Option(str(i), label, literal=True) for i, label in env.get("open_incidents", ()))

    form = Form(
        "pick",
        1,
        "form.followup.title",
        (Field("incident", k.Choice(options=open_incidents), "field.what.label", "field.what.prompt"),),
        submit="none",
    )
    engine = fe.Engine(form)
    ctx = fe.Context(NOW, TZ, TR, {"open_incidents": [(7, "KB-20261123-0007 河堤"), (9, "KB-20261123-0009 化工")]})
    draft = engine.new_draft("t", NOW)
    view = render(engine, draft, ctx)
    assert [b.label for r in view.rows for b in r][:2] == ["1. KB-20261123-0007 河堤", "2. KB-20261123-0009 化工"]
    out = engine.handle(draft, fe.Text("化工"), ctx)
    assert out.draft["answers"]["incident"] == "9" and out.draft["mode"] == "review"


def test_a_rule_across_fields_sends_the_person_back_with_the_reason() -> None:
    ahead = Window(past=timedelta(minutes=5), future=timedelta(days=30))
    form = Form(
        "warn",
        1,
        "form.flash.title",
        (
            Field(
                "starts_at", k.DateTime(window=ahead, quick=()), "field.occurred_at.label", "field.occurred_at.prompt"
            ),
            Field("ends_at", k.DateTime(window=ahead, quick=()), "field.occurred_at.label", "field.occurred_at.prompt"),
        ),
        submit="none",
        validate=ends_after("starts_at", "ends_at"),
    )
    w = Walk(form)
    w("明天 18:00")  # a future time is fine in this field's window
    w("明天 9点")
    assert w.at == "ends_at" and w.error() == "结束时间必须晚于开始时间。"
    w("后天 9点")
    assert w.at == "review"
    w.tap("edit", "ends_at")
    w("40天后")
    assert w.error().startswith("这个时间太晚了：最晚可填 2026-12-23")


def test_a_draft_of_another_version_or_a_removed_field_is_not_continued() -> None:
    engine = fe.Engine(INITIAL_REPORT)
    draft = engine.new_draft("t", NOW)
    assert engine.compatible(draft)
    assert not engine.compatible({**draft, "version": INITIAL_REPORT.version - 1})
    assert not engine.compatible({**draft, "cursor": "field_renamed_in_a_deploy"})
    legacy = {k_: v for k_, v in draft.items() if k_ != "version"}  # stored before drafts had versions
    assert not engine.compatible(legacy) and not engine.compatible({**draft, "form": "flash"})


def test_a_second_tap_on_the_same_button_is_quiet_and_other_old_buttons_are_stale() -> None:
    w = Walk()
    first = fe.Action("quick", "30", step=w.engine.step_code(w.draft))
    w(first)
    assert w.at == "place"
    again = w(first)  # the second tap arrived after the first had moved on
    assert again.duplicate and not again.stale and not again.is_error and w.at == "place"
    other = w(fe.Action("quick", "60", step=first.step))
    assert other.stale


def test_an_album_is_answered_once_and_every_item_kept() -> None:
    w = Walk()
    w.fill_to("attachments")
    first = w(fe.Media("photo", "a1", "ua1", album="g1"))
    assert first.notice[0] == "notice.album_added" and not first.quiet
    for i in range(2, 5):
        assert w(fe.Media("photo", f"a{i}", f"ua{i}", album="g1")).quiet
    assert [a["file_id"] for a in w.answers["attachments"]] == ["a1", "a2", "a3", "a4"]
    assert not w(fe.Media("video", "v", "uv", album="g2")).quiet  # another album is answered again


def test_a_venue_keeps_its_name_and_address_and_a_live_location_its_first_point() -> None:
    w = Walk()
    w.fill_to("place")
    w(fe.Location(31.2, 121.4, title="XX化工园区", address="XX路88号"))
    assert w.at == "source" and w.answers["place"]["text"] == "XX化工园区 XX路88号"
    assert w.answers["place"]["venue"] == {"title": "XX化工园区", "address": "XX路88号"}
    w.tap("back")
    w.draft["answers"].pop("place")
    w(fe.Location(30.0, 120.0, live=True))
    assert w.at == "place" and w.last.notice[0] == "notice.live_location_received"


def test_forwarded_text_is_an_answer_never_a_command() -> None:
    w = Walk()
    w.fill_to("description")
    w(fe.Text("取消", forwarded=True))
    assert w.at == "units_involved" and w.answers["description"] == "取消"


@pytest.mark.parametrize(
    ("kind", "text", "value", "shown"),
    [
        (k.FreeText(max_length=10), " 河堤 ", "河堤", "河堤"),
        (k.FreeText(), "<b>&", "<b>&", "&lt;b&gt;&amp;"),
        (k.Count(), "一百二十人", 120, "120"),
        (k.Count(), "不详", None, None),
        (k.Money(), "约三百五十万元", 3_500_000, "350万元"),
        (k.Money(), "不详", "unknown", "不详"),
        (
            k.CasualtyFigures(),
            "受伤一百二十人",
            {"deaths": None, "injured": 120, "missing": None, "serious": None, "trapped": None},
            "死亡 不详 · 失踪 不详 · 重伤 不详 · 受伤 120 · 被困 不详",
        ),
        (
            k.CasualtyFigures(),
            "3人死亡2人受伤",
            {"deaths": 3, "injured": 2, "missing": None, "serious": None, "trapped": None},
            "死亡 3 · 失踪 不详 · 重伤 不详 · 受伤 2 · 被困 不详",
        ),
        (k.DateTime(), "昨天 21:10", "2026-11-22T13:10:00+00:00", "2026-11-22 21:10"),
        (k.Person(), "王某 138-0000-0001", {"name": "王某", "phone": "13800000001"}, "王某 13800000001"),
        (k.Choice(options=(Option("a", "source.scene"), Option("b", "source.public"))), "2", "b", "群众报告"),
        (
            k.MultiChoice(options=(Option("a", "source.scene"), Option("b", "source.public"))),
            "1、2",
            {"selected": ["a", "b"], "other": None},
            "现场人员、群众报告",
        ),
    ],
)
def test_each_kind_parses_and_shows_its_answer(kind: k.FieldKind, text: str, value: object, shown: str | None) -> None:
    result = kind.on_text(text, None, SCOPE)
    assert isinstance(result, k.Change) and result.value == value
    if shown is not None:
        assert shown in kind.render(result.value, SCOPE)


@pytest.mark.parametrize(
    ("kind", "text", "reason"),
    [
        (k.Count(), "-1", "error.count_negative"),
        (k.Count(), "100001", "error.count_absurd"),
        (k.Money(), "10万亿零1", "error.money_absurd"),
        (k.Money(), "一些", "error.money_format"),
        (k.CasualtyFigures(), "死亡一点五", "error.casualty_decimal"),
        (k.CasualtyFigures(), "死亡2 受伤", "error.casualties_format"),
        (k.DateTime(), "3小时后", "error.time_future"),
        (k.DateTime(), "2026-10-01 08:00", "error.time_too_old"),
        (k.DateTime(window=Window(past=timedelta(0), future=None)), "昨天 9点", "error.time_before_limit"),
        (k.Person(), "王某", "error.contact_format"),
        (k.Choice(options=(Option("a", "source.scene"),)), "9", "error.choice_unknown"),
        (k.Attachments(), "照片", "error.wrong_type"),
    ],
)
def test_each_kind_refuses_with_the_reason(kind: k.FieldKind, text: str, reason: str) -> None:
    result = kind.on_text(text, None, SCOPE)
    assert isinstance(result, Invalid) and result.msgid == reason


def test_kinds_of_non_text_inputs() -> None:
    place = k.Place()
    assert place.on_event(fe.Contact("a", "1"), None, SCOPE) is None  # not this kind's input: wrong type
    assert isinstance(place.on_event(fe.Location(95, 0), None, SCOPE), Invalid)
    person = k.Person()
    assert person.on_event(fe.Contact(" \u200b", "1"), None, SCOPE) == Invalid("error.contact_format")
    files = k.Attachments(max_items=1)
    one = files.on_event(fe.Media("photo", "p", "u"), None, SCOPE)
    assert isinstance(one, k.Change) and files.on_event(fe.Media("photo", "q", "v"), one.value, SCOPE) == Invalid(
        "error.attachments_full", {"max": 1}
    )
    assert set(k.KINDS) >= {
        "text",
        "choice",
        "multi_choice",
        "casualties",
        "money",
        "datetime",
        "location",
        "contact",
        "attachments",
        "integer_or_unknown",
    }
