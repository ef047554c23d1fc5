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

from bot.runtime.languages import Languages
from bot.telegram.files import FileFetcher
from bot.telegram.render import Renderer
from bot.telegram.translate import BotIdentity
from handlers.core import ConversationCore

log = logging.getLogger(__name__)


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
