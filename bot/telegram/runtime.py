"""The Telegram channel, assembled and run: `start_telegram(settings)` returns a running
`TelegramRuntime`; `stop()` shuts it down in order.

Start-up: getMe (the bot's username, for group mentions and deep links), the composition root
(`bot.app.build_app`), the command menu in zh and en (setMyCommands), then the intake — long
polling (deleteWebhook first, or getUpdates would conflict) or the webhook server (setWebhook
with the secret, when a public URL is configured) — the update processor and the delivery loop.
With `agents_chat_id` set, the agents' desk first: the group is checked (a forum where the bot
manages topics; DeskConfigError says what is missing), its router goes in front of the seller
routers, its command menu is set, and the desk relay runs beside the delivery loop.

Shutdown (SIGTERM): the intake stops first (polling ends, the webhook server stops accepting
and finishes the requests it has), then the updates being handled finish, up to
`shutdown_grace_seconds`; stored updates not yet started stay in the database for the next
start or another process.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

from aiogram import Bot, Dispatcher, Router
from aiogram.methods import DeleteWebhook, SetMyCommands, SetWebhook
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
)
from aiohttp import web

from bot.app import App, build_app
from bot.config import Settings
from bot.runtime.deliveries import DeliveryLoop
from bot.runtime.housekeeping import Housekeeping
from bot.runtime.languages import Languages
from bot.runtime.leases import process_name
from bot.runtime.limiter import Limiter, OutboundLimits, build_limiter
from bot.runtime.metrics import Stats
from bot.runtime.workers import ChatWorkers
from bot.telegram.client import make_bot
from bot.telegram.deliveries import TelegramDeliveries
from bot.telegram.desk import Desk, DeskRelay, check_desk, desk_router
from bot.telegram.desk.router import DESK_COMMANDS
from bot.telegram.files import FileFetcher
from bot.telegram.middleware import Dependencies, InjectDependencies
from bot.telegram.outbox import TelegramQueued
from bot.telegram.polling import ALLOWED_UPDATES, Poller
from bot.telegram.processor import TelegramIntake, TelegramUpdates
from bot.telegram.render import Renderer
from bot.telegram.routers import seller_routers
from bot.telegram.sender import Sender
from bot.telegram.translate import CHANNEL, BotIdentity
from bot.telegram.webhook import build_web_app, derived_secret
from handlers import replies
from handlers.commands import COMMANDS, group_commands

log = logging.getLogger(__name__)

# In groups the bot answers questions only; account commands there offer the private chat.
GROUP_COMMANDS = group_commands()


def build_dispatcher(dependencies: Dependencies, *, extra_routers: Sequence[Router] = ()) -> Dispatcher:
    """The dispatcher: dependencies injected into every handler, then the routers — those of
    other channel features first, the seller routers last."""
    # No FSM: conversation state lives in the database (the core's), not in aiogram's storage.
    dispatcher = Dispatcher(disable_fsm=True)
    dispatcher.update.outer_middleware(InjectDependencies(dependencies))
    dispatcher.include_routers(*extra_routers, *seller_routers())
    return dispatcher


def command_menus(default_language: str) -> list[SetMyCommands]:
    """setMyCommands calls: private chats get every command, groups the FAQ ones; each in zh
    and en (by the user's app language) and in the default language for everyone else."""
    calls = []
    for language_code in (None, *replies.LANGUAGES):
        lang = language_code or default_language
        for scope, names in (
            (BotCommandScopeAllPrivateChats(), COMMANDS),
            (BotCommandScopeAllGroupChats(), GROUP_COMMANDS),
        ):
            commands = [
                BotCommand(command=name, description=replies.say(f"channel.commands.{name}", lang))
                for name in names
            ]
            calls.append(SetMyCommands(commands=commands, scope=scope, language_code=language_code))
    return calls


def desk_command_menus(chat_id: int, default_language: str) -> list[SetMyCommands]:
    """The desk's commands, for the agents' group only, in zh and en."""
    calls = []
    for language_code in (None, *replies.LANGUAGES):
        lang = language_code or default_language
        commands = [
            BotCommand(command=name, description=replies.say(f"desk.commands.{name}", lang))
            for name in DESK_COMMANDS
        ]
        calls.append(
            SetMyCommands(
                commands=commands, scope=BotCommandScopeChat(chat_id=chat_id), language_code=language_code
            )
        )
    return calls


@dataclasses.dataclass
class TelegramRuntime:
    settings: Settings
    app: App
    bot: Bot
    identity: BotIdentity
    limiter: Limiter
    sender: Sender
    dispatcher: Dispatcher
    processor: ChatWorkers[Any]
    intake: TelegramIntake
    deliveries: DeliveryLoop
    housekeeping: Housekeeping
    webhook: bool
    desk: Desk | None = None
    desk_relay: DeskRelay | None = None
    owns_app: bool = True
    poller: Poller | None = None
    web_runner: web.AppRunner | None = None
    port: int | None = None
    _tasks: list[asyncio.Task[Any]] = dataclasses.field(default_factory=list)
    _stop_requested: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    _stopped: bool = False

    @property
    def stats(self) -> Stats:
        return self.processor.stats

    def request_stop(self) -> None:
        """Ask the runtime to stop (the SIGTERM handler); `wait()` then returns."""
        self._stop_requested.set()

    async def wait(self) -> None:
        """Until a stop is requested or a part of the runtime fails (its error is raised)."""
        stop = asyncio.create_task(self._stop_requested.wait())
        try:
            done, _ = await asyncio.wait([stop, *self._tasks], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        for task in done:
            if task is not stop and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]

    async def _start(self) -> None:
        for call in command_menus(self.settings.app.default_language):
            await self.bot(call)
        if self.desk is not None:
            for call in desk_command_menus(self.desk.chat_id, self.settings.handoff.desk_language):
                await self.bot(call)
        self._tasks.append(asyncio.create_task(self.processor.run(), name="telegram-processor"))
        self._tasks.append(asyncio.create_task(self.deliveries.run(), name="telegram-deliveries"))
        self._tasks.append(asyncio.create_task(self.housekeeping.run(), name="telegram-housekeeping"))
        if self.desk_relay is not None:
            self._tasks.append(asyncio.create_task(self.desk_relay.run(), name="telegram-desk"))
        telegram = self.settings.telegram
        if self.webhook:
            token = telegram.token.get_secret_value()
            secret = telegram.webhook_secret.get_secret_value() or derived_secret(token)
            web_app = build_web_app(
                self.dispatcher, self.bot, intake=self.intake, secret=secret, path=telegram.webhook_path
            )
            self.web_runner = web.AppRunner(web_app, handle_signals=False, shutdown_timeout=10.0)
            await self.web_runner.setup()
            site = web.TCPSite(self.web_runner, telegram.listen_host, telegram.listen_port)
            await site.start()
            addresses = self.web_runner.addresses
            self.port = addresses[0][1] if addresses else telegram.listen_port
            log.info("webhook listening on %s:%s%s", telegram.listen_host, self.port, telegram.webhook_path)
            if telegram.webhook_url:
                await self.bot(
                    SetWebhook(
                        url=telegram.webhook_url,
                        secret_token=secret,
                        allowed_updates=ALLOWED_UPDATES,
                        max_connections=telegram.max_connections,
                    )
                )
                log.info("webhook registered with Telegram")
        else:
            await self.bot(DeleteWebhook(drop_pending_updates=False))
            self.poller = Poller(self.bot, self.intake, timeout=telegram.poll_timeout_seconds)
            self._tasks.append(asyncio.create_task(self.poller.run(), name="telegram-poller"))
            log.info("long polling %s as @%s", telegram.api_base_url, self.identity.username)

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        # 1. No new updates.
        for task in self._tasks:
            if task.get_name() == "telegram-poller":
                task.cancel()
        if self.web_runner is not None:
            await self.web_runner.cleanup()
        # 2. Let the updates being handled finish (and the desk's pass in hand).
        await self.processor.stop(self.settings.telegram.shutdown_grace_seconds)
        if self.desk_relay is not None:
            await self.desk_relay.stop(self.settings.telegram.shutdown_grace_seconds)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        # 3. Close what was opened.
        await self.limiter.close()
        await self.bot.session.close()
        if self.owns_app:
            await self.app.close()
        log.info("stopped")


async def start_telegram(
    settings: Settings,
    *,
    webhook: bool = False,
    app: App | None = None,
    extra_routers: Sequence[Router] = (),
    owner: str | None = None,
) -> TelegramRuntime:
    """Start the Telegram channel. With `app`, use that composition root (tests, or a process
    running several channels) instead of building one, and leave it open at stop."""
    telegram = settings.telegram
    bot = make_bot(telegram)
    try:
        me = await bot.get_me()
        identity = BotIdentity(id=me.id, username=me.username or "")
        if telegram.agents_chat_id:
            title = await check_desk(bot, telegram.agents_chat_id, identity.id)
            log.info("agents' desk: %s (%s)", title, telegram.agents_chat_id)
        owns_app = app is None
        if app is None:
            app = await build_app(settings, bot_username=identity.username)
        else:
            app.core.options = dataclasses.replace(app.core.options, bot_username=identity.username)
    except BaseException:
        await bot.session.close()
        raise
    limits = OutboundLimits.from_rates(
        per_second=telegram.messages_per_second,
        group_per_minute=telegram.group_messages_per_minute,
        chat_per_second=telegram.chat_messages_per_second,
        chat_burst=telegram.chat_burst,
    )
    limiter = build_limiter(
        limits,
        redis_url=settings.redis.url,
        prefix=f"{settings.redis.key_prefix}:telegram:{identity.id}:limits",
    )
    sender = Sender(bot, limiter)
    render = Renderer(identity)
    languages = Languages(app.database.sessions, settings.app.default_language, channel=CHANNEL)
    files = FileFetcher(bot, max_bytes=telegram.max_file_bytes)
    dependencies = Dependencies(
        conversation=app.core,
        render=render,
        files=files,
        identity=identity,
        languages=languages,
    )
    owner = owner or process_name()
    desk = desk_relay = None
    if telegram.agents_chat_id:
        desk = Desk(
            chat_id=telegram.agents_chat_id,
            settings=settings.handoff,
            sessions=app.database.sessions,
            sender=sender,
            render=render,
            files=files,
            identity=identity,
            knowledge=app.knowledge,
            matcher=app.matcher,
            policy=settings.policy,
        )
        desk_relay = DeskRelay(
            desk, owner=owner, interval=telegram.delivery_poll_seconds, lease_seconds=telegram.lease_seconds
        )
        desk.wake_relay = desk_relay.wake
        extra_routers = [desk_router(desk), *extra_routers]
    dispatcher = build_dispatcher(dependencies, extra_routers=extra_routers)
    agent_messages = TelegramDeliveries(app.database.sessions, sender, render)
    updates = TelegramUpdates(
        dispatcher=dispatcher,
        bot=bot,
        sender=sender,
        render=render,
        languages=languages,
        queued=TelegramQueued(sender, render, agent_messages),
    )
    processor: ChatWorkers[Any] = ChatWorkers(
        sessions=app.database.sessions,
        channel=CHANNEL,
        handler=updates,
        owner=owner,
        workers=telegram.workers,
        concurrent_handling=telegram.concurrent_handling,
        lease_seconds=telegram.lease_seconds,
    )
    runtime = TelegramRuntime(
        settings=settings,
        app=app,
        bot=bot,
        identity=identity,
        limiter=limiter,
        sender=sender,
        dispatcher=dispatcher,
        processor=processor,
        intake=TelegramIntake(updates, processor),
        deliveries=DeliveryLoop(
            app.database.sessions,
            CHANNEL,
            agent_messages,
            interval=telegram.delivery_poll_seconds,
            wake_chat=processor.wake,
        ),
        housekeeping=Housekeeping(
            app.database.sessions,
            channel=CHANNEL,
            keep_updates_hours=telegram.keep_updates_hours,
            keep_expired_days=settings.database.keep_expired_days,
            policy=settings.policy,
        ),
        webhook=webhook,
        owns_app=owns_app,
        desk=desk,
        desk_relay=desk_relay,
    )
    try:
        await runtime._start()
    except BaseException:
        await runtime.stop()
        raise
    return runtime
