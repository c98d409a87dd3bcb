"""The /stats chart: matplotlib off-screen (Agg, no pyplot, no display), sized for a phone screen.

Chinese labels are drawn with Noto Sans SC, which the `pylopdf-fonts-zh-cn` dependency ships under the SIL Open
Font License 1.1: the README's install alone renders them, on a machine with no CJK font of its own."""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass, field
from functools import cache
from typing import Any

GRADE_COLOURS = {"I": "#d7191c", "II": "#f07c19", "III": "#e6c619", "IV": "#2c7bb6", "ungraded": "#9e9e9e"}
_lock = threading.Lock()  # one figure at a time: the font cache and the Agg renderer are shared state


@dataclass(frozen=True)
class ChartData:
    """Everything the chart shows, already in the reader's language."""

    title: str
    count_title: str
    rate_title: str
    categories: list[tuple[str, dict[str, int]]]  # (category label, {grade code: incidents})
    grade_labels: dict[str, str]  # grade code -> label
    units: list[tuple[str, float | None, str]] = field(default_factory=list)  # (unit, on-time rate, note)
    empty: str = ""
    # 管理考核: each linked unit's on-time arrival rate (name, rate, note: orders and median minutes)
    dispatch: list[tuple[str, float | None, str]] = field(default_factory=list)
    dispatch_title: str = ""


@cache
def cjk_family() -> str:
    """Register the bundled CJK font with matplotlib once; its family name."""
    from matplotlib import font_manager
    from pylopdf_fonts_zh_cn import sans_path

    path = str(sans_path())
    font_manager.fontManager.addfont(path)
    return str(font_manager.FontProperties(fname=path).get_name())


def render_chart(data: ChartData, family: str | None = None) -> bytes:
    """A PNG: incidents by category (bars stacked by grade) above the on-time rate per unit, and the linked units'
    on-time arrival rate (when any was ordered out)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with _lock:
        families = [family or cjk_family(), "DejaVu Sans"]
        rows = max(1, len(data.categories))
        units, linked = data.units[:12], data.dispatch[:12]
        panels = [len(p) for p in (units, linked) if p]
        height = 2.2 + 0.45 * rows + sum(0.45 * n + 1.2 for n in panels)
        fig = Figure(figsize=(7.2, height), dpi=150)
        FigureCanvasAgg(fig)
        fig.suptitle(data.title, fontsize=13, fontfamily=families)
        grid = fig.add_gridspec(1 + len(panels), 1, height_ratios=[rows + 1.5, *(n + 1.5 for n in panels)])
        ax = fig.add_subplot(grid[0])
        _counts(ax, data, families)
        at = 1
        if units:
            _rates(fig.add_subplot(grid[at]), data.rate_title, units, families)
            at += 1
        if linked:
            _rates(fig.add_subplot(grid[at]), data.dispatch_title, linked, families)
        fig.tight_layout(rect=(0, 0, 1, 0.96))
        out = io.BytesIO()
        fig.savefig(out, format="png")
        return out.getvalue()


def _style(ax: Any, families: list[str]) -> None:
    for label in [*ax.get_xticklabels(), *ax.get_yticklabels()]:
        label.set_fontfamily(families)
    ax.spines[["top", "right"]].set_visible(False)


def _counts(ax: Any, data: ChartData, families: list[str]) -> None:
    ax.set_title(data.count_title, fontsize=11, fontfamily=families, loc="left")
    if not data.categories:
        ax.text(0.5, 0.5, data.empty, ha="center", va="center", fontfamily=families, transform=ax.transAxes)
        ax.set_axis_off()
        return
    labels = [c for c, _ in data.categories][::-1]
    left = [0] * len(labels)
    for grade, colour in GRADE_COLOURS.items():
        values = [by.get(grade, 0) for _, by in data.categories][::-1]
        if any(values):
            ax.barh(labels, values, left=left, color=colour, label=data.grade_labels.get(grade, grade))
            left = [a + b for a, b in zip(left, values, strict=True)]
    for y, total in enumerate(left):
        ax.text(total, y, f" {total}", va="center", fontsize=10)
    ax.set_xlim(0, max(left) * 1.15 + 1)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(prop={"family": families, "size": 9}, loc="lower right", frameon=False)
    _style(ax, families)


def _rates(ax: Any, title: str, units: list[tuple[str, float | None, str]], families: list[str]) -> None:
    ax.set_title(title, fontsize=11, fontfamily=families, loc="left")
    names = [u[0][:14] for u in units][::-1]
    rates = [(u[1] or 0.0) * 100 for u in units][::-1]
    colours = ["#1a9641" if r >= 95 else "#fdae61" if r >= 80 else "#d7191c" for r in rates]
    ax.barh(names, rates, color=colours)
    for y, (rate, unit) in enumerate(zip(rates, units[::-1], strict=True)):
        text = f" {rate:.0f}%" if unit[1] is not None else " -"
        ax.text(rate, y, text + (f"  {unit[2]}" if unit[2] else ""), va="center", fontsize=9, fontfamily=families)
    ax.set_xlim(0, 160)
    ax.set_xticks([0, 20, 40, 60, 80, 100])
    _style(ax, families)
