"""Sellerbot's Telegram channel, assembled above any client library: given a `Transport` (aiogram's
or python-telegram-bot's), `start_service` finds who the bot is (getMe), checks the agents' desk
when one is configured (DeskConfigError says what is missing), builds the composition root
(`bot.app.build_app`) unless given one, and wires the limiter, sender, renderer, the sellers' and
the desk's handlers, the chat workers (the inbox, leases, per-chat order), the delivery loop,
housekeeping and the desk relay, then starts those background tasks. Updates come in through
`service.intake` — from sellerbot's own polling or webhook, or from a host bot's dispatcher.

`stop()` lets the updates being handled finish (up to `shutdown_grace_seconds`), stops the
background tasks and closes what the service opened; stored updates not yet started stay in the
database for the next start or another process.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any, TypeVar

from bot.app import App, build_app
from bot.config import Settings
from bot.runtime.deliveries import DeliveryLoop
from bot.runtime.housekeeping import Housekeeping
from bot.runtime.languages import Languages
from bot.runtime.leases import process_name
from bot.runtime.limiter import Limiter, OutboundLimits, build_limiter
from bot.runtime.metrics import Stats
from bot.runtime.serve import until_a_part_ends
from bot.runtime.workers import ChatWorkers
from bot.telegram.api import ApiCall, ApiClient, Transport
from bot.telegram.deliveries import TelegramDeliveries
from bot.telegram.desk import Desk, DeskHandlers, DeskRelay, check_desk
from bot.telegram.files import FileFetcher
from bot.telegram.outbox import TelegramQueued
from bot.telegram.processor import TelegramIntake, TelegramUpdates, UpdateRouter
from bot.telegram.render import Renderer
from bot.telegram.seller import SellerHandlers
from bot.telegram.sender import Sender
from bot.telegram.translate import CHANNEL, BotIdentity

log = logging.getLogger(__name__)


@dataclasses.dataclass
class TelegramService:
    settings: Settings
    app: App
    api: ApiClient
    identity: BotIdentity
    limiter: Limiter
    sender: Sender
    router: UpdateRouter
    processor: ChatWorkers[Any]
    intake: TelegramIntake
    deliveries: DeliveryLoop
    housekeeping: Housekeeping
    desk: Desk | None = None
    desk_relay: DeskRelay | None = None
    owns_app: bool = True
    _tasks: list[asyncio.Task[Any]] = dataclasses.field(default_factory=list)
    _stopped: bool = False
    # Updates from a host's dispatcher are stored one at a time, in the order they reach sellerbot:
    # a host that handles updates concurrently (aiogram's tasks, python-telegram-bot's
    # concurrent_updates) may start several at once, and the chat workers take a chat's updates in
    # the order they were stored. An asyncio lock is taken first come, first served.
    _storing: asyncio.Lock = dataclasses.field(default_factory=asyncio.Lock)

    @property
    def stats(self) -> Stats:
        return self.processor.stats

    async def _start(self) -> None:
        self._tasks.append(asyncio.create_task(self.processor.run(), name="telegram-processor"))
        self._tasks.append(asyncio.create_task(self.deliveries.run(), name="telegram-deliveries"))
        self._tasks.append(asyncio.create_task(self.housekeeping.run(), name="telegram-housekeeping"))
        if self.desk_relay is not None:
            self._tasks.append(asyncio.create_task(self.desk_relay.run(), name="telegram-desk"))

    async def take(self, raw: dict[str, Any]) -> None:
        """An update a host's dispatcher passed on (one `router.claims`): stored for the chat
        workers, or, if the database cannot store it, its sender told."""
        async with self._storing:
            try:
                await self.intake.accept([raw])
            except Exception as exc:
                self.intake.tell_users([raw], exc)

    async def _stop_intake(self) -> None:
        """No new updates (the standalone runtime stops its polling or webhook here)."""

    async def wait(self) -> None:
        """Until a part of the service ends or fails (its error is raised)."""
        await until_a_part_ends(self._tasks)

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        # 1. No new updates.
        await self._stop_intake()
        # 2. Let the updates being handled finish (and the desk's pass in hand).
        grace = self.settings.telegram.shutdown_grace_seconds
        await self.processor.stop(grace)
        if self.desk_relay is not None:
            await self.desk_relay.stop(grace)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        # 3. Close what was opened.
        await self.limiter.close()
        await self.api.transport.close()
        if self.owns_app:
            await self.app.close()
        log.info("stopped")


Service = TypeVar("Service", bound=TelegramService)


async def start_service(
    settings: Settings,
    transport: Transport,
    *,
    app: App | None = None,
    owner: str | None = None,
    kind: type[Service] = TelegramService,  # type: ignore[assignment]
    **extra: Any,
) -> Service:
    """The channel on `transport`, its background tasks running. With `app`, use that composition
    root (a host's, tests, a process running several channels) and leave it open at stop. `kind`
    and `extra`: a subclass that adds an intake of its own (the standalone runtime)."""
    telegram = settings.telegram
    api = ApiClient(transport, network_retries=telegram.network_retries)
    try:
        me = await api(ApiCall("getMe", {}))
        identity = BotIdentity(id=me["id"], username=me.get("username") or "")
        if telegram.agents_chat_id:
            title = await check_desk(api, telegram.agents_chat_id, identity.id)
            log.info("agents' desk: %s (%s)", title, telegram.agents_chat_id)
        owns_app = app is None
        if app is None:
            app = await build_app(settings, bot_username=identity.username)
        else:
            app.core.options = dataclasses.replace(app.core.options, bot_username=identity.username)
    except BaseException:
        await transport.close()
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
    sender = Sender(api, limiter)
    render = Renderer(identity)
    languages = Languages(app.database.sessions, settings.app.default_language, channel=CHANNEL)
    files = FileFetcher(api, max_bytes=telegram.max_file_bytes)
    owner = owner or process_name()
    desk = desk_relay = desk_handlers = None
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
        desk_handlers = DeskHandlers(desk)
    router = UpdateRouter(
        seller=SellerHandlers(
            conversation=app.core, render=render, files=files, identity=identity, languages=languages
        ),
        desk=desk_handlers,
    )
    agent_messages = TelegramDeliveries(app.database.sessions, sender, render)
    updates = TelegramUpdates(
        router=router,
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
    service = kind(
        settings=settings,
        app=app,
        api=api,
        identity=identity,
        limiter=limiter,
        sender=sender,
        router=router,
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
        owns_app=owns_app,
        desk=desk,
        desk_relay=desk_relay,
        **extra,
    )
    try:
        await service._start()
    except BaseException:
        await service.stop()
        raise
    return service
