"""Agents' messages to sellers (services.handoff's delivery queue), sent by the same sender as
every reply, so they keep within the same limits: text, or a file with its caption, with buttons
(the rating question), quoting the seller's message an agent answered. A delivery Telegram
refuses for good (the seller blocked the bot) is recorded as failed, and the agents' desk says so.

Each process looks for pending deliveries every `interval` seconds. A delivery is claimed
(marked delivered) before it is sent, so that two processes never both send it: the marking
that changes the row wins, the other skips it. Each chat's deliveries go in order; different
chats' go side by side.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict

from aiogram.methods import TelegramMethod

from bot.telegram.render import Renderer
from bot.telegram.sender import Sender
from bot.telegram.translate import CHANNEL
from handlers.types import Button
from services.db import Sessions, is_unavailable
from services.handoff import DeliveryView, load_file, mark_delivered, mark_delivery_failed, pending_deliveries

log = logging.getLogger(__name__)

BATCH = 100


class DeliveryLoop:
    def __init__(self, sessions: Sessions, sender: Sender, render: Renderer, *, interval: float) -> None:
        self.sessions = sessions
        self.sender = sender
        self.render = render
        self.interval = interval
        self.delivered = 0
        self._failing = False

    async def run(self) -> None:
        while True:
            try:
                found = await self.deliver_once()
                if self._failing:
                    log.info("deliveries: database available again")
                self._failing = False
            except Exception as exc:
                if not self._failing:
                    log.error(
                        "deliveries: %s",
                        "database unavailable" if is_unavailable(exc) else "failed",
                        exc_info=None if is_unavailable(exc) else exc,
                    )
                self._failing = True
                found = 0
            if found < BATCH:
                await asyncio.sleep(self.interval)

    async def deliver_once(self) -> int:
        async with self.sessions() as session:
            pending = await pending_deliveries(session, channel=CHANNEL, limit=BATCH)
        by_chat: dict[tuple[str, str], list[DeliveryView]] = defaultdict(list)
        for delivery in pending:
            by_chat[(delivery.chat_id, delivery.thread_id)].append(delivery)
        await asyncio.gather(*(self._send_chat(items) for items in by_chat.values()))
        return len(pending)

    async def _send_chat(self, items: list[DeliveryView]) -> None:
        for delivery in items:
            if await mark_delivered(sessions=self.sessions, delivery_ids=[delivery.id]) != 1:
                continue  # another process claimed it
            failures = await self.sender.deliver(await self.methods(delivery))
            if not failures:
                self.delivered += 1
                continue
            # The agent who wrote it must not believe it arrived: the desk will say so.
            await mark_delivery_failed(sessions=self.sessions, delivery_id=delivery.id, failure=failures[0])

    async def methods(self, delivery: DeliveryView) -> list[TelegramMethod]:
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
