"""The /stats chart renders Chinese with the bundled open-licence font: no glyph falls back to a missing-glyph box
(matplotlib warns "Glyph … missing from font(s)" for each one), on a machine with no CJK font of its own."""

from __future__ import annotations

import warnings

from bot.telegram.charts import ChartData, cjk_family, render_chart

LABELS = {"I": "特别重大（Ⅰ级）", "II": "重大（Ⅱ级）", "III": "较大（Ⅲ级）", "IV": "一般（Ⅳ级）", "ungraded": "未分级"}
DATA = ChartData(
    title="市应急管理局 · 本月（2026-11-01 至 2026-11-30）",
    count_title="事件数（按类别、等级）",
    rate_title="按时报送率（按单位，最差在前）",
    categories=[("自然灾害", {"I": 1, "IV": 7}), ("事故灾难", {"II": 2, "ungraded": 1}), ("社会安全事件", {"IV": 2})],
    grade_labels=LABELS,
    units=[("县应急管理局", 0.4, "迟报 2 · 漏报 1"), ("邻县应急管理局", 1.0, "")],
)


def missing_glyphs(data: ChartData, family: str | None = None) -> tuple[bytes, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        png = render_chart(data, family)
    return png, [str(w.message) for w in caught if "missing from font" in str(w.message)]


def test_chinese_labels_render_with_no_missing_glyph() -> None:
    png, missing = missing_glyphs(DATA)
    assert missing == []
    assert png.startswith(b"\x89PNG") and len(png) > 20_000
    assert cjk_family() == "Noto Sans SC"


def test_the_check_would_catch_a_font_without_chinese() -> None:
    _png, missing = missing_glyphs(DATA, family="DejaVu Sans")  # no CJK glyphs: every Chinese character is a box
    assert missing and any("DejaVu Sans" in m for m in missing)


def test_the_linked_units_panel_renders_and_makes_the_chart_taller() -> None:
    from dataclasses import replace

    with_dispatch = replace(
        DATA,
        dispatch=[("城关派出所", 0.5, "派单 4，中位 27.5 分钟"), ("县消防救援大队", None, "派单 1，中位 — 分钟")],
        dispatch_title="联动单位按时到场率",
    )
    png, missing = missing_glyphs(with_dispatch)
    assert missing == [] and png.startswith(b"\x89PNG")
    import struct

    def height(image: bytes) -> int:
        return int(struct.unpack(">I", image[20:24])[0])  # the PNG header's height

    assert height(png) > height(render_chart(DATA))
