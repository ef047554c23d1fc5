"""Sending: every outgoing message, whether it answers an update or delivers an agent's reply,
takes a slot from the outbound limiter and then goes through the API client (which obeys 429s
and retries network errors). Calls that do not post to a chat (answering a callback query,
getFile) are not limited. Sellerbot's limiter governs its own calls whatever client library
carries them.

The caller sends one chat's messages one after another, awaiting each, so they arrive in order.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Sequence
from typing import Any

from bot.runtime.limiter import Limiter
from bot.runtime.metrics import KEEP, add_wait
from bot.telegram.api import (
    ApiCall,
    ApiClient,
    ApiError,
    BadRequest,
    Forbidden,
    MigrateToChat,
    api_error_text,
)

log = logging.getLogger(__name__)

# Methods that put something in a chat, and so count against Telegram's message limits.
LIMITED = frozenset({"sendMessage", "sendDocument", "sendPhoto", "editMessageText", "editMessageReplyMarkup"})


def is_group_chat(chat_id: int | str) -> bool:
    # Telegram gives users positive ids and groups (and channels) negative ones.
    try:
        return int(chat_id) < 0
    except ValueError:
        return True  # "@channelusername"


def already_made(exc: BadRequest) -> bool:
    """An edit that was already made (a double click raced)."""
    return exc.says("message is not modified")


class Sender:
    def __init__(self, api: ApiClient, limiter: Limiter) -> None:
        self.api = api
        self.limiter = limiter
        self.sent = 0
        # When the latest messages got their slots (event-loop time): what the limiter let through.
        self.granted: deque[float] = deque(maxlen=KEEP)

    async def call(self, method: ApiCall) -> Any:
        """Make one call, waiting for the limiter first if it posts to a chat. Raises what the
        Bot API answered once retries are exhausted."""
        chat = method.chat_id
        limited = method.method in LIMITED
        if limited and chat is not None:
            # The whole time spent in the limiter counts as waiting (not only the sleeps it asked
            # for: on a busy loop a sleep ends late, and Redis calls take their time).
            loop = asyncio.get_running_loop()
            started = loop.time()
            await self.limiter.acquire(chat, group=is_group_chat(chat))
            self.granted.append(loop.time())
            add_wait(self.granted[-1] - started)
        try:
            result = await self.api(method)
        except MigrateToChat as exc:
            # A group became a supergroup: same conversation, new chat id.
            log.info("chat %s moved to %s; sending there", chat, exc.new_chat_id)
            return await self.call(method.replace(chat_id=exc.new_chat_id))
        if limited:
            self.sent += 1
        return result

    async def deliver(self, methods: Sequence[ApiCall]) -> list[str]:
        """Make the calls in order; a call that fails for good is logged and the next one still
        goes (one undeliverable message must not hold up the rest). Returns how each failed call
        failed, in order ("blocked": the chat does not accept the bot's messages; "refused":
        Telegram refused the call; "error": anything else); empty when all went through."""
        failures: list[str] = []
        for method in methods:
            try:
                await self.call(method)
            except BadRequest as exc:
                if already_made(exc):
                    continue
                failures.append("refused")
                log.error("Telegram refused %s: %s", method.method, api_error_text(exc))
            except Forbidden:
                failures.append("blocked")
                log.info("chat %s does not accept messages from the bot (blocked or left)", method.chat_id)
            except ApiError as exc:
                failures.append("error")
                log.error("could not send %s: %s", method.method, api_error_text(exc))
        return failures
