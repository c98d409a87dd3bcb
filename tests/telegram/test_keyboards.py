"""Every button of every form's every screen fits Telegram's 64-byte callback data, in both languages."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.app.settings import DEFAULT_LOCALES_DIR
from bot.telegram.callbacks import FormCb, form_callback
from bot.telegram.i18n import Catalogs
from bot.telegram.keyboards import form_markup
from conversations import engine as fe
from conversations.registry import FORMS
from conversations.render import render

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 23, 16, 0, tzinfo=TZ)


@pytest.mark.parametrize("form_id", list(FORMS))
@pytest.mark.parametrize("locale", ["zh_Hans", "en"])
def test_callback_data_of_every_screen_fits(form_id: str, locale: str) -> None:
    tr = Catalogs(DEFAULT_LOCALES_DIR, "zh_Hans").translator(locale)
    ctx = fe.Context(NOW, TZ, tr, {"profile_contact": {"name": "李报送", "phone": "13800000002"}})
    engine = fe.Engine(FORMS[form_id])
    answers = {"category": "accident", "subtype": "industrial", "casualties": {"deaths": 1}}
    draft = engine.new_draft("f" * 16, NOW, initial=answers, base={"casualties": {"deaths": 3}})
    screens = [{**draft, "cursor": f.id} for f in engine.form.fields]
    screens += [{**draft, "mode": m} for m in ("review", "cancel")]
    screens += [{**draft, "mode": f"{a.id}.{s}"} for a in engine.form.addons for s in a.screens]
    seen = 0
    for screen in screens:
        view = render(engine, screen, ctx)
        if view.reply_keyboard:
            continue
        for row, buttons in zip(form_markup(view, form_id, draft["token"])["inline_keyboard"], view.rows, strict=True):
            for button, b in zip(row, buttons, strict=True):
                data = button["callback_data"]
                assert len(data.encode()) <= 64, data
                assert data == FormCb(f=form_id, t=draft["token"], s=view.step, a=b.action, v=b.value).pack()
                seen += 1
    assert seen >= 2 * len(screens)  # every screen has buttons (at least back and cancel), each checked


def test_form_callback_refuses_what_pack_refuses() -> None:
    assert form_callback("initial", "tok", 3, "set", "a") == FormCb(f="initial", t="tok", s=3, a="set", v="a").pack()
    with pytest.raises(ValueError, match="Separator"):
        form_callback("initial", "tok", 3, "set", "a:b")
    with pytest.raises(ValueError, match="too long"):
        form_callback("initial", "t" * 60, 3, "set")
