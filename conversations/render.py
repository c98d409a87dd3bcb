"""Presentation of a draft: prompt, review and confirmation screens as text and button rows. Pure.

Text is Telegram HTML: every answer the user typed is escaped (by the field kinds).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from html import escape
from typing import Any

from conversations.engine import NAV_LABELS, REVIEW, Context, Engine, Outcome
from conversations.form import Field, Scope
from conversations.view import Button, View

Tr = Callable[..., str]


def nav_label(tr: Tr, action: str) -> str:
    return tr(NAV_LABELS[action])


def format_value(f: Field, value: Any, scope: Scope) -> str:
    """One answer as escaped HTML."""
    if value is None or value == [] or value == {}:
        return scope.translate("value.none")
    return f.kind.render(value, scope)


def notice_text(outcome: Outcome | None, tr: Tr) -> str:
    if outcome is None or outcome.notice is None:
        return ""
    msgid, params = outcome.notice
    icon = "⚠️ " if outcome.is_error else "✓ "
    return icon + tr(msgid, **{k: escape(str(v)) for k, v in params.items()})


def render(engine: Engine, draft: Mapping[str, Any], ctx: Context, outcome: Outcome | None = None) -> View:
    """The screen for the draft's current mode, with the outcome's notice on top."""
    tr = ctx.translate
    notice = notice_text(outcome, tr)
    mode = draft["mode"]
    scope = engine.scope(draft, ctx)
    if mode == "review":
        view = _review(engine, draft, ctx)
    elif mode == "cancel":
        yes, no = Button(nav_label(tr, "cancel_yes"), "cancel_yes"), Button(nav_label(tr, "cancel_no"), "cancel_no")
        view = View(tr("form.cancel_confirm"), [[yes, no]])
    elif mode == "fill":
        view = _prompt(engine, draft, ctx)
    else:
        addon_id, _, screen = mode.partition(".")
        addon = engine.form.addon(addon_id)
        assert addon is not None
        view = addon.render(screen, draft, scope)
    view.step = engine.step_code(draft)
    if notice:
        view.text = notice + "\n\n" + view.text
    return view


def _prompt(engine: Engine, draft: Mapping[str, Any], ctx: Context) -> View:
    tr = ctx.translate
    f = engine.form.field(draft["cursor"])
    scope = engine.scope(draft, ctx)
    current = draft["answers"].get(f.id)
    step, total = engine.position(draft, ctx)
    lines = [
        tr("form.step", title=tr(engine.form.title), step=step, total=total, label=tr(f.label)),
        tr(f.prompt),
    ]
    if not f.required:
        lines.append(tr("form.optional"))
    if current not in (None, [], {}):
        lines.append(tr("form.current", value=format_value(f, current, scope)))
    rows = f.kind.buttons(current, scope)
    prefill = scope.env.get(f.prefill) if f.prefill else None
    if isinstance(prefill, Mapping):  # a contact: name and phone
        rows.append([Button(tr("button.confirm_contact", name=prefill["name"], phone=prefill["phone"]), "prefill")])
    elif prefill:  # a text (the publisher's unit as the issuing authority)
        rows.append([Button(tr("button.confirm_value", value=str(prefill)[:40]), "prefill")])
    if f.kind.has_done:
        rows.append([Button(nav_label(tr, "done"), "done")])
    elif f.kind.answered(current):
        rows.append([Button(nav_label(tr, "keep"), "keep")])
    nav = [Button(nav_label(tr, "back"), "back")]
    if not f.required:
        nav.append(Button(nav_label(tr, "skip"), "skip"))
    nav.append(Button(nav_label(tr, "cancel"), "cancel"))
    rows.append(nav)
    view = View("\n".join(lines), rows)
    location_label = f.kind.reply_keyboard(current, scope)
    if location_label is not None:
        view.reply_keyboard, view.request_location = True, location_label
        if not f.kind.answered(current):  # Done once something is there
            view.rows = [r for r in rows if not any(b.action == "done" for b in r)]
    return view


def summary_lines(engine: Engine, draft: Mapping[str, Any], ctx: Context) -> list[str]:
    scope = engine.scope(draft, ctx)
    return [
        f"{i}. <b>{ctx.translate(f.label)}</b>：{format_value(f, draft['answers'].get(f.id), scope)}"
        for i, f in enumerate(engine.visible(draft, ctx), 1)
    ]


def _review(engine: Engine, draft: Mapping[str, Any], ctx: Context) -> View:
    tr = ctx.translate
    scope = engine.scope(draft, ctx)
    lines = [tr("form.review_title", title=tr(engine.form.title)), "", *summary_lines(engine, draft, ctx)]
    for addon in engine.form.addons:
        lines += ["", *addon.lines(draft, scope)]
    visible = engine.visible(draft, ctx)
    edits = [Button(f"✏️ {i}. {tr(f.label)}", "edit", f.id) for i, f in enumerate(visible, 1)]
    rows = [edits[i : i + 2] for i in range(0, len(edits), 2)]
    for addon in engine.form.addons:
        rows += addon.buttons(draft, scope)
    rows.append([Button(nav_label(tr, "submit"), "submit"), Button(nav_label(tr, "cancel"), "cancel")])
    return View("\n".join(lines), rows, step=REVIEW)
