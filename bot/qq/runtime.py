"""The QQ channel, assembled and run: `start_qq(settings)` returns a running `QQRuntime`; `stop()`
shuts it down in order.

Start-up checks the `[qq]` settings first and says exactly what is missing. Then, on the shared
runtime: the chat workers, the delivery loop for agents' answers, housekeeping; and the protocol:

- official: the REST client (a first access token proves the AppID and AppSecret), and the
  webhook on `webhook_listen` + `webhook_path` — or, with `events = "gateway"`, the WebSocket
  gateway;
- onebot: the reverse WebSocket server on `onebot_listen` + `onebot_path`, which the QQ client
  connects to.

Shutdown (SIGTERM): no new work is taken; the messages being handled finish, up to
`shutdown_grace_seconds` (on OneBot the client stays connected meanwhile: replies go over it, and
messages that arrive are stored for the next start); then the listeners close.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

from aiohttp import web

from bot.app import App, build_app
from bot.config import QQSettings, Settings, split_host_port
from bot.qq.events import CHANNEL
from bot.qq.official.client import OfficialClient, QQConfigError, check_settings
from bot.qq.official.gateway import GROUP_AND_C2C_EVENT, INTERACTION, Gateway
from bot.qq.official.signing import Signer
from bot.qq.official.transport import OfficialTransport
from bot.qq.official.webhook import OfficialReceiver
from bot.qq.onebot import events as onebot_events
from bot.qq.onebot.server import Connection, OneBotServer, is_loopback
from bot.qq.onebot.transport import OneBotTransport
from bot.qq.render import Renderer
from bot.qq.sending import QQSender, Transport
from bot.qq.updates import QQIntake, QQUpdates
from bot.runtime.deliveries import DeliveryLoop
from bot.runtime.housekeeping import Housekeeping
from bot.runtime.languages import Languages
from bot.runtime.leases import process_name
from bot.runtime.limiter import Limiter, OutboundLimits, build_limiter
from bot.runtime.metrics import Stats
from bot.runtime.serve import until_a_part_ends
from bot.runtime.workers import ChatWorkers
from handlers import replies as catalogue
from handlers.types import Button

log = logging.getLogger(__name__)


def check_qq(settings: QQSettings) -> None:
    """Raise QQConfigError saying exactly what the chosen protocol is missing."""
    if settings.protocol == "official":
        check_settings(settings)
        return
    host, _ = split_host_port(settings.onebot_listen)
    if not settings.onebot_access_token.get_secret_value() and not is_loopback(host):
        raise QQConfigError(
            f"[qq] onebot_listen = {settings.onebot_listen!r} is reachable from other machines, so the "
            "QQ client must prove itself: set onebot_access_token (SELLERBOT_QQ__ONEBOT_ACCESS_TOKEN) here "
            "and the same token in the client, or listen on 127.0.0.1"
        )


def private_chat_line(transport: Transport, protocol: str):
    """How a group member reaches the bot privately, in QQ's terms (a group has no deep links)."""

    def line(button: Button, lang: str, self_id: str) -> str:
        key = (
            "channel.qq.private_chat_official" if protocol == "official" else "channel.qq.private_chat_onebot"
        )
        return catalogue.say(
            key, lang, label=button.label, payload=button.id, bot_id=transport.bot_id(self_id)
        )

    return line


@dataclasses.dataclass
class QQRuntime:
    settings: Settings
    app: App
    transport: Transport
    limiter: Limiter
    sender: QQSender
    processor: ChatWorkers[Any]
    updates: QQUpdates
    intake: QQIntake
    deliveries: DeliveryLoop
    housekeeping: Housekeeping
    web_runner: web.AppRunner | None = None
    port: int | None = None
    gateway: Gateway | None = None
    onebot: OneBotServer | None = None
    receiver: OfficialReceiver | None = None
    owns_app: bool = True
    _tasks: list[asyncio.Task[Any]] = dataclasses.field(default_factory=list)
    _stopped: bool = False

    @property
    def stats(self) -> Stats:
        return self.processor.stats

    async def wait(self) -> None:
        """Until a part of the runtime fails (its error is raised)."""
        await until_a_part_ends(self._tasks)

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        grace = self.settings.qq.shutdown_grace_seconds
        # 1. No new work (the official API's listener stops at once: the platform redelivers).
        for task in self._tasks:
            if task.get_name() == "qq-gateway":
                task.cancel()
        webhook = self.receiver is not None and self.settings.qq.events == "webhook"
        if webhook and self.web_runner is not None:
            await self.web_runner.cleanup()
        # 2. What is being handled finishes (its replies still go out).
        await self.processor.stop(grace)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        # 3. Close what was opened.
        if self.onebot is not None:
            await self.onebot.close()
        if self.web_runner is not None and not webhook:
            await self.web_runner.cleanup()
        await self.limiter.close()
        await self.transport.close()
        if self.owns_app:
            await self.app.close()
        log.info("stopped")


async def start_qq(settings: Settings, *, app: App | None = None, owner: str | None = None) -> QQRuntime:
    """Start the QQ channel. With `app`, use that composition root (tests, or a process running
    several channels) instead of building one, and leave it open at stop."""
    qq = settings.qq
    check_qq(qq)
    owns_app = app is None
    client = OfficialClient(qq) if qq.protocol == "official" else None
    try:
        if client is not None:
            await client.token()  # the AppID and AppSecret work, or start-up says so
        if app is None:
            app = await build_app(settings)
    except BaseException:
        if client is not None:
            await client.close()
        raise
    sessions = app.database.sessions
    limiter = build_limiter(
        OutboundLimits.from_rates(
            per_second=qq.messages_per_second,
            group_per_minute=qq.group_messages_per_minute,
            chat_per_second=qq.chat_messages_per_second,
            chat_burst=qq.chat_burst,
        ),
        redis_url=settings.redis.url,
        prefix=f"{settings.redis.key_prefix}:qq:{qq.app_id or 'onebot'}:limits",
    )
    onebot: OneBotServer | None = None
    transport: Transport
    if client is not None:
        transport = OfficialTransport(client, sessions, qq)
    else:
        onebot = OneBotServer(
            path=qq.onebot_path,
            access_token=qq.onebot_access_token.get_secret_value(),
            on_event=lambda connection, event: on_onebot_event(connection, event),
            missed_heartbeats=qq.onebot_missed_heartbeats,
        )
        transport = OneBotTransport(onebot, action_timeout=qq.onebot_action_timeout_seconds)
    sender = QQSender(transport, limiter, sessions)
    keyboards = qq.protocol == "official" and qq.markdown_keyboards
    renderer = Renderer(
        max_chars=qq.max_message_chars,
        links=qq.links,
        keyboards=keyboards,
        private_chat=private_chat_line(transport, qq.protocol),
        default_language=settings.app.default_language,
    )
    updates = QQUpdates(
        core=app.core,
        sender=sender,
        renderer=renderer,
        languages=Languages(sessions, settings.app.default_language, channel=CHANNEL),
        sessions=sessions,
        max_file_bytes=qq.max_file_bytes,
        windows=client is not None,
        numbered=not keyboards,
    )
    processor: ChatWorkers[Any] = ChatWorkers(
        sessions=sessions,
        channel=CHANNEL,
        handler=updates,
        owner=owner or process_name(),
        workers=qq.workers,
        concurrent_handling=qq.concurrent_handling,
        lease_seconds=qq.lease_seconds,
        claims=onebot.serves if onebot is not None else None,
    )
    intake = QQIntake(processor, sessions)
    deliveries = DeliveryLoop(
        sessions, CHANNEL, updates.deliveries, interval=qq.delivery_poll_seconds, wake_chat=processor.wake
    )
    updates.wake_deliveries = deliveries.wake

    async def on_onebot_event(connection: Connection, event: dict[str, Any]) -> None:
        message = onebot_events.parse(event, self_id=connection.self_id)
        if message is None:
            return
        try:
            await intake.accept([message])
        except Exception as exc:
            intake.tell_users([message], exc)

    runtime = QQRuntime(
        settings=settings,
        app=app,
        transport=transport,
        limiter=limiter,
        sender=sender,
        processor=processor,
        updates=updates,
        intake=intake,
        deliveries=deliveries,
        housekeeping=Housekeeping(
            sessions,
            channel=CHANNEL,
            keep_updates_hours=qq.keep_updates_hours,
            keep_expired_days=settings.database.keep_expired_days,
            policy=settings.policy,
        ),
        onebot=onebot,
        owns_app=owns_app,
    )
    try:
        await _start(runtime, client)
    except BaseException:
        await runtime.stop()
        raise
    return runtime


async def _start(runtime: QQRuntime, client: OfficialClient | None) -> None:
    qq = runtime.settings.qq
    tasks = runtime._tasks
    tasks.append(asyncio.create_task(runtime.processor.run(), name="qq-processor"))
    tasks.append(asyncio.create_task(runtime.deliveries.run(), name="qq-deliveries"))
    tasks.append(asyncio.create_task(runtime.housekeeping.run(), name="qq-housekeeping"))
    web_app = web.Application(client_max_size=2 * 1024 * 1024)

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    web_app.router.add_get("/healthz", health)
    listen = qq.onebot_listen
    if client is not None:
        listen = qq.webhook_listen
        runtime.receiver = OfficialReceiver(
            signer=Signer(qq.app_secret.get_secret_value().strip()),
            accept=runtime.intake.accept,
            tell_users=runtime.intake.tell_users,
            acknowledge_press=client.ack_interaction,
        )
        if qq.events == "webhook":
            runtime.receiver.install(web_app, qq.webhook_path)
        else:
            intents = GROUP_AND_C2C_EVENT | (INTERACTION if qq.markdown_keyboards else 0)
            runtime.gateway = Gateway(client, intents=intents, on_event=runtime.receiver.take)
            tasks.append(asyncio.create_task(runtime.gateway.run(), name="qq-gateway"))
    else:
        assert runtime.onebot is not None
        runtime.onebot.install(web_app)
    if client is None or qq.events == "webhook":
        host, port = split_host_port(listen)
        runtime.web_runner = web.AppRunner(web_app, handle_signals=False, shutdown_timeout=5.0)
        await runtime.web_runner.setup()
        site = web.TCPSite(runtime.web_runner, host, port)
        await site.start()
        addresses = runtime.web_runner.addresses
        runtime.port = addresses[0][1] if addresses else port
        what = (
            f"webhook {qq.webhook_path}"
            if client is not None
            else f"OneBot reverse WebSocket {qq.onebot_path}"
        )
        log.info("QQ (%s): %s listening on %s:%s", qq.protocol, what, host, runtime.port)
    else:
        log.info("QQ (official): receiving events over the gateway")
