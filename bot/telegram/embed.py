"""Sellerbot inside a host's aiogram bot: `aiogram_router(settings)` returns a `Router` to include in
the host's `Dispatcher`, after the host's own routers.

Scope (`UpdateRouter.claims`): private chats (text, files, media, sellerbot's own commands, a
seller's edits), group messages that address the bot (a command for it, a mention, a reply to
it), callback queries whose data is sellerbot's (`b:`), and everything from the agents' desk
group when one is configured. Anything else — another command (the host's `/weather`), group chat
not for the bot, other callback data, other update types — is left to the host's routers. A
claimed update is stored in sellerbot's inbox and answered by its chat workers, in order per chat
and once, whatever the host's dispatcher does with concurrency; the handler returns as soon as the
update is stored.

Lifecycle: the dispatcher's startup starts sellerbot's service on the host's `Bot` (the bot's
identity from getMe, the desk checked, the composition root built unless given, the chat workers,
delivery loop, housekeeping and desk relay running); its shutdown stops it. `start_polling` passes
the bot to startup; a host on aiohttp webhooks passes it with `setup_application(app, dispatcher,
bot=bot)` — or gives it here, as `bot=`. Sellerbot sends its own calls through the host's bot
session, with its own limiter and 429 handling (`bot.telegram.sender`); the host's session
middlewares see them too. Sellerbot does not set the bot's command menu (the host owns it), and
a host's `DefaultBotProperties` (a default parse mode, …) do not reach sellerbot's calls: a
seller's text always goes as plain text.
"""

from __future__ import annotations

import logging
from typing import Any

from aiogram import Bot, Router
from aiogram.types import TelegramObject, Update

from bot.app import App
from bot.config import Settings
from bot.telegram.aiogram_transport import AiogramTransport
from bot.telegram.service import TelegramService, start_service

log = logging.getLogger(__name__)


class SellerbotRouter(Router):
    """The router, and the running service once the host's dispatcher has started."""

    def __init__(self, settings: Settings, *, app: App | None = None, bot: Bot | None = None) -> None:
        super().__init__(name="sellerbot")
        self.settings = settings
        self.app = app
        self.bot = bot
        self.service: TelegramService | None = None
        self.startup.register(self._on_startup)
        self.shutdown.register(self._on_shutdown)
        for observer in (self.message, self.edited_message, self.callback_query):
            observer.register(self._store, self._claims)

    async def _on_startup(self, **data: Any) -> None:
        bot = self.bot or data.get("bot")
        if not isinstance(bot, Bot):
            raise RuntimeError(
                "sellerbot's router needs the host's Bot at startup: use start_polling, "
                "setup_application(app, dispatcher, bot=bot), or aiogram_router(..., bot=bot)"
            )
        self.service = await start_service(
            self.settings, AiogramTransport(bot, owns_session=False), app=self.app
        )

    async def _on_shutdown(self, **data: Any) -> None:
        if self.service is not None:
            await self.service.stop()
            self.service = None

    async def _claims(self, event: TelegramObject, event_update: Update) -> bool | dict[str, Any]:
        if self.service is None:
            return False
        raw = event_update.model_dump(mode="json", by_alias=True, exclude_none=True)
        # A filter's dict goes to the handler: the update is dumped once.
        return {"sellerbot_update": raw} if self.service.router.claims(raw) else False

    async def _store(self, event: TelegramObject, sellerbot_update: dict[str, Any]) -> None:
        assert self.service is not None
        await self.service.take(sellerbot_update)


def aiogram_router(settings: Settings, *, app: App | None = None, bot: Bot | None = None) -> SellerbotRouter:
    """A router serving sellerbot's scope; include it in the host's `Dispatcher` after the host's
    own routers. `settings`: sellerbot's configuration (database, Redis, [telegram] limits and
    agents_chat_id, [handoff]); the token is the host's bot's. `app`: a composition root to share
    (left open at shutdown)."""
    return SellerbotRouter(settings, app=app, bot=bot)
