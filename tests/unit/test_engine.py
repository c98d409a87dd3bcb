"""The form engine, field kind by field kind, with the bad inputs a reporter really sends."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.app.settings import DEFAULT_LOCALES_DIR
from bot.telegram.i18n import Catalogs
from conversations import engine as fe
from conversations.form import Field, Form, Kind
from conversations.initial_report import INITIAL_REPORT
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
    w("明天下午")
    assert "没有看懂这个时间" in w.error() and w.at == "occurred_at"
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


def test_location_step_refuses_photos_and_accepts_done_only_with_an_answer() -> None:
    w = Walk()
    w.fill_to("place")
    w(fe.Media("photo", "f", "u"))
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
    w(fe.Media("voice", "v", "uv"))
    assert w.at == "description"


def test_casualties_merge_and_refusals() -> None:
    w = Walk()
    w.fill_to("casualties")
    for text, reason in [("死亡-2", "不能为负数"), ("受伤2.5", "必须是整数"), ("死亡200000", "超过 100000"),
                         ("很多人", "没有看懂伤亡数字")]:  # fmt: skip
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
    form = Form("count", "form.initial.title", (Field("affected", Kind.INTEGER, "field.casualties.label",
                                                       "field.casualties.prompt"),))  # fmt: skip
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
    assert w.engine.grade(w.draft) == ("III", None)
    w.tap("grade")
    w.tap("set_grade", "II")
    assert w.at == "grade_reason"
    w("  ")
    assert w.error() == "内容不能为空。"
    w("现场仍有人员被困，可能升级")
    assert w.at == "review" and w.engine.grade(w.draft) == ("II", "现场仍有人员被困，可能升级")
    w.tap("grade")
    w.tap("set_grade", "III")  # back to the suggestion: no reason needed
    assert w.engine.grade(w.draft) == ("III", None)
    assert w.tap("submit").submit


def test_social_events_default_to_ungraded() -> None:
    w = Walk()
    w.fill_to("category")
    w.tap("choose", "social")
    w.tap("choose", "mass_incident")
    w.fill_to("attachments")
    w.tap("done")
    assert w.engine.grade(w.draft) == ("ungraded", None)


@pytest.mark.parametrize("locale", ["zh_Hans", "en"])
def test_every_screen_renders_with_step_numbers_and_escaped_text(locale: str) -> None:
    tr = Catalogs(DEFAULT_LOCALES_DIR, "zh_Hans").translator(locale)
    w = Walk()
    w.fill_to("description")
    w("<b>not bold</b> & more")
    w.fill_to("attachments")
    w.tap("done")
    view = render(w.engine, w.draft, CTX, tr)
    assert "&lt;b&gt;not bold&lt;/b&gt; &amp; more" in view.text
    buttons = [b for row in view.rows for b in row]
    assert sum(1 for b in buttons if b.action == "edit") == 12
    w.tap("edit", "loss")
    prompt = render(w.engine, w.draft, CTX, tr)
    assert ("9/12" in prompt.text or "9 of 12" in prompt.text) and any(
        b.action == "skip" for row in prompt.rows for b in row
    )
