"""What the handlers get as keyword arguments, injected by one outer middleware (aiogram's way
of dependency injection): the conversation core, the renderer, the file fetcher, the bot's
identity and the reply-language lookup."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject
from sqlalchemy import select

from bot.telegram.files import FileFetcher
from bot.telegram.render import Renderer
from bot.telegram.translate import CHANNEL, BotIdentity
from handlers.core import ConversationCore
from handlers.replies import LANGUAGES
from services.db import Sessions
from services.models import Conversation

log = logging.getLogger(__name__)


def language_from_hint(hint: str | None, default: str) -> str:
    code = (hint or "").lower()
    for lang in LANGUAGES:
        if code.startswith(lang):
            return lang
    return default


class Languages:
    """The language to use for what the adapter says itself (a file too large, a button that is
    someone else's): the conversation's language if it has one, else the user's Telegram
    language, else the default."""

    def __init__(self, sessions: Sessions, default: str) -> None:
        self.sessions = sessions
        self.default = default

    async def of(
        self, *, chat_id: int | str, user_id: int | str, thread_id: str = "", hint: str | None
    ) -> str:
        try:
            async with self.sessions() as session:
                stored = await session.scalar(
                    select(Conversation.language).where(
                        Conversation.channel == CHANNEL,
                        Conversation.chat_id == str(chat_id),
                        Conversation.thread_id == thread_id,
                        Conversation.user_id == str(user_id),
                    )
                )
        except Exception as exc:  # the database is down: the hint will do
            log.debug("conversation language unavailable: %r", exc)
            stored = None
        return stored if stored in LANGUAGES else language_from_hint(hint, self.default)


@dataclass(frozen=True)
class Dependencies:
    conversation: ConversationCore
    render: Renderer
    files: FileFetcher
    identity: BotIdentity
    languages: Languages


class InjectDependencies(BaseMiddleware):
    def __init__(self, dependencies: Dependencies) -> None:
        self.dependencies = dependencies

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        deps = self.dependencies
        data.update(
            conversation=deps.conversation,
            render=deps.render,
            files=deps.files,
            identity=deps.identity,
            languages=deps.languages,
        )
        return await handler(event, data)
