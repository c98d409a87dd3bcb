"""Drive the report conversation like a person with a phone: type, tap, share."""

from __future__ import annotations

from typing import Any

from bot.app.sandbox.botapi import FakeBotAPI, Sent


class Reporter:
    def __init__(self, api: FakeBotAPI, user_id: int) -> None:
        self.api = api
        self.uid = user_id

    @property
    def chat(self) -> list[Sent]:
        return self.api.in_chat(self.uid)

    async def _after(self, action: Any) -> list[Sent]:
        before = len(self.chat)
        await action
        return await self.api.settle(self.uid, before)

    async def say(self, text: str) -> str:
        """Send text; return everything the bot showed in answer, joined."""
        return "\n".join(s.text for s in await self._after(self.api.send_text(self.uid, text)))

    async def tap(self, label: str) -> str:
        """Press the button labelled `label` on the newest screen."""
        screen = self.api.screen(self.uid)
        button = screen.button(label)
        if "callback_data" not in button:  # a reply-keyboard button: it types its label
            return await self.say(button["text"])
        return "\n".join(s.text for s in await self._after(self.api.press(self.uid, screen, button["callback_data"])))

    async def share_location(self, lat: float, lon: float) -> str:
        return "\n".join(s.text for s in await self._after(self.api.send_location(self.uid, lat, lon)))

    async def photo(self, file_id: str) -> str:
        return "\n".join(s.text for s in await self._after(self.api.send_photo(self.uid, file_id)))

    async def sticker(self) -> str:
        return "\n".join(s.text for s in await self._after(self.api.send_sticker(self.uid)))

    def buttons(self) -> list[str]:
        return [b["text"] for b in self.api.screen(self.uid).buttons()]
