"""Agents' messages on Telegram (the shared `bot.runtime.deliveries` loop queues them in the chat's
outbox, whose holder sends them: `bot.telegram.outbox`): text, or a file with its caption, with
buttons (the rating question), quoting the seller's message an agent answered."""

from __future__ import annotations

from bot.runtime.deliveries import Readiness
from bot.telegram.api import ApiCall
from bot.telegram.render import Renderer
from bot.telegram.sender import Sender
from handlers.types import Button
from services.db import Sessions
from services.handoff import DeliveryView, load_file


class TelegramDeliveries:
    """The `DeliveryChannel` of Telegram: a delivery may always go."""

    def __init__(self, sessions: Sessions, sender: Sender, render: Renderer) -> None:
        self.sessions = sessions
        self.sender = sender
        self.render = render

    async def readiness(self, delivery: DeliveryView) -> Readiness:
        return Readiness.SEND

    def chat_key(self, delivery: DeliveryView) -> str:
        """The chat's key as the seller's updates have it (a forum topic is a chat of its own)."""
        return f"{delivery.chat_id}:{delivery.thread_id}" if delivery.thread_id else delivery.chat_id

    async def methods(self, delivery: DeliveryView) -> list[ApiCall]:
        """The calls that send a delivery: its text (or a file with the text as caption), its
        buttons, quoting the seller's message it answers."""
        chat = int(delivery.chat_id)
        thread = int(delivery.thread_id) if delivery.thread_id else None
        reply_to = int(delivery.reply_to) if delivery.reply_to and delivery.reply_to.isdigit() else None
        buttons = [Button(id=bid, label=label) for bid, label in delivery.buttons]
        stored = None
        if delivery.upload_id is not None:
            async with self.sessions() as session:
                stored = await load_file(session, delivery.upload_id)
        if stored is None:
            return self.render.text(chat, delivery.text, buttons, thread_id=thread, reply_to=reply_to)
        return self.render.file(
            chat,
            name=stored.name,
            data=stored.data,
            mime_type=stored.mime_type,
            caption=delivery.text,
            buttons=buttons,
            thread_id=thread,
            reply_to=reply_to,
        )
