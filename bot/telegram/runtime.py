"""The standalone Telegram runtime (`sellerbot run telegram`), on aiogram: `start_telegram(settings)`
returns a running `TelegramRuntime`; `stop()` shuts it down in order.

Start-up: the library-neutral channel (`bot.telegram.service`) on an aiogram `Bot` of its own,
the command menu in zh and en (setMyCommands; the desk's in the agents' group), then the intake —
long polling (deleteWebhook first, or getUpdates would conflict) or the webhook server
(setWebhook with the secret, when a public URL is configured).

Shutdown (SIGTERM): the intake stops first (polling ends, the webhook server stops accepting
and finishes the requests it has), then the service stops (`TelegramService.stop`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

from aiohttp import web

from bot.app import App
from bot.config import Settings
from bot.telegram.aiogram_transport import AiogramTransport, make_bot
from bot.telegram.api import ApiCall
from bot.telegram.desk.agents import DESK_COMMANDS
from bot.telegram.polling import Poller
from bot.telegram.processor import ALLOWED_UPDATES
from bot.telegram.service import TelegramService, start_service
from bot.telegram.webhook import build_web_app, derived_secret
from handlers import replies
from handlers.commands import COMMANDS, group_commands

log = logging.getLogger(__name__)

# In groups the bot answers questions only; account commands there offer the private chat.
GROUP_COMMANDS = group_commands()


def _menu(descriptions: dict[str, str]) -> list[dict[str, str]]:
    return [{"command": name, "description": text} for name, text in descriptions.items()]


def command_menus(default_language: str) -> list[ApiCall]:
    """setMyCommands calls: private chats get every command, groups the FAQ ones; each in zh
    and en (by the user's app language) and in the default language for everyone else."""
    calls = []
    for language_code in (None, *replies.LANGUAGES):
        lang = language_code or default_language
        for scope, names in (("all_private_chats", COMMANDS), ("all_group_chats", GROUP_COMMANDS)):
            params: dict[str, Any] = {
                "commands": _menu({n: replies.say(f"channel.commands.{n}", lang) for n in names}),
                "scope": {"type": scope},
            }
            if language_code:
                params["language_code"] = language_code
            calls.append(ApiCall("setMyCommands", params))
    return calls


def desk_command_menus(chat_id: int, default_language: str) -> list[ApiCall]:
    """The desk's commands, for the agents' group only, in zh and en."""
    calls = []
    for language_code in (None, *replies.LANGUAGES):
        lang = language_code or default_language
        params: dict[str, Any] = {
            "commands": _menu({n: replies.say(f"desk.commands.{n}", lang) for n in DESK_COMMANDS}),
            "scope": {"type": "chat", "chat_id": chat_id},
        }
        if language_code:
            params["language_code"] = language_code
        calls.append(ApiCall("setMyCommands", params))
    return calls


@dataclasses.dataclass
class TelegramRuntime(TelegramService):
    webhook: bool = False
    poller: Poller | None = None
    web_runner: web.AppRunner | None = None
    port: int | None = None

    async def _start(self) -> None:
        for call in command_menus(self.settings.app.default_language):
            await self.api(call)
        if self.desk is not None:
            for call in desk_command_menus(self.desk.chat_id, self.settings.handoff.desk_language):
                await self.api(call)
        await super()._start()
        telegram = self.settings.telegram
        if self.webhook:
            token = telegram.token.get_secret_value()
            secret = telegram.webhook_secret.get_secret_value() or derived_secret(token)
            web_app = build_web_app(intake=self.intake, secret=secret, path=telegram.webhook_path)
            self.web_runner = web.AppRunner(web_app, handle_signals=False, shutdown_timeout=10.0)
            await self.web_runner.setup()
            site = web.TCPSite(self.web_runner, telegram.listen_host, telegram.listen_port)
            await site.start()
            addresses = self.web_runner.addresses
            self.port = addresses[0][1] if addresses else telegram.listen_port
            log.info("webhook listening on %s:%s%s", telegram.listen_host, self.port, telegram.webhook_path)
            if telegram.webhook_url:
                params = {
                    "url": telegram.webhook_url,
                    "secret_token": secret,
                    "allowed_updates": ALLOWED_UPDATES,
                    "max_connections": telegram.max_connections,
                }
                await self.api(ApiCall("setWebhook", params))
                log.info("webhook registered with Telegram")
        else:
            await self.api(ApiCall("deleteWebhook", {"drop_pending_updates": False}))
            self.poller = Poller(self.api.transport, self.intake, timeout=telegram.poll_timeout_seconds)
            self._tasks.append(asyncio.create_task(self.poller.run(), name="telegram-poller"))
            log.info("long polling %s as @%s", telegram.api_base_url, self.identity.username)

    async def _stop_intake(self) -> None:
        for task in self._tasks:
            if task.get_name() == "telegram-poller":
                task.cancel()
        if self.web_runner is not None:
            await self.web_runner.cleanup()


async def start_telegram(
    settings: Settings,
    *,
    webhook: bool = False,
    app: App | None = None,
    owner: str | None = None,
) -> TelegramRuntime:
    """Start the Telegram channel. With `app`, use that composition root (tests, or a process
    running several channels) instead of building one, and leave it open at stop."""
    transport = AiogramTransport(make_bot(settings.telegram), owns_session=True)
    return await start_service(
        settings, transport, app=app, owner=owner, kind=TelegramRuntime, webhook=webhook
    )
