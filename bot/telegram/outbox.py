"""Telegram's part of the durable outbox (`services.outbox`): a row — a turn's replies, or an
agent's message — rendered as Bot API calls and sent through the sender (the limiter, 429s
obeyed), with the ids of the messages Telegram made. A chat that no longer takes the bot's
messages (blocked) or a refused call fails the row for good (for an agent's message the desk
says so); an unreachable or failing Telegram leaves it to be sent again."""

from __future__ import annotations

import logging
from typing import Any

from bot.telegram.api import ApiCall, BadRequest, Forbidden, api_error_text, message_id_of
from bot.telegram.deliveries import TelegramDeliveries
from bot.telegram.render import Renderer
from bot.telegram.sender import Sender, already_made
from handlers.types import reply_from_json
from services import outbox
from services.handoff import delivery_from_json

log = logging.getLogger(__name__)


def _int(value: object) -> int | None:
    text = str(value or "")
    return int(text) if text.lstrip("-").isdigit() else None


class TelegramQueued:
    """Sends one outbox row of a Telegram chat."""

    def __init__(self, sender: Sender, render: Renderer, deliveries: TelegramDeliveries) -> None:
        self.sender = sender
        self.render = render
        self.deliveries = deliveries

    async def methods(self, payload: dict[str, Any]) -> list[ApiCall]:
        delivery = delivery_from_json(payload)
        if delivery is not None:
            return await self.deliveries.methods(delivery)
        chat = _int(payload.get("chat_id"))
        if chat is None:
            return []
        replies = [reply_from_json(r) for r in payload.get("replies") or ()]
        return self.render.replies(
            chat, replies, thread_id=_int(payload.get("thread_id")), reply_to=_int(payload.get("reply_to"))
        )

    async def send_queued(self, item: outbox.Pending) -> outbox.Outcome:
        ids: list[str] = []
        failure: str | None = None
        for method in await self.methods(item.payload):
            try:
                result = await self.sender.call(method)
            except Forbidden:
                return outbox.Outcome(item.id, sent=False, message_ids=ids, failure="blocked")
            except BadRequest as exc:
                if already_made(exc):
                    continue
                # One refused call (a file Telegram will not take) must not hold up the rest.
                failure = failure or "refused"
                log.error("Telegram refused %s: %s", method.method, api_error_text(exc))
                continue
            made = message_id_of(result)
            if made is not None:
                ids.append(str(made))
        return outbox.Outcome(item.id, sent=failure is None, message_ids=ids, failure=failure)
