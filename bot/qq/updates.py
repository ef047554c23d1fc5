"""QQ's part of the shared runtime: what a stored QQ message means, and how its answer goes out;
where an agent's answer may go; which messages are stored at all.

Intake keeps what is for the bot: private messages, and group messages that @-mention it, reply
to one of its messages, or give it a command — the rest of a busy group is never stored. A worker
then hands each message to `QQUpdates.handle`: on the official API the message opens the seller's
reply window (every answer must refer to it); images are fetched within the size limit (a store
icon); the core answers; and the seller's agent answers held for a closed window go now.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from bot.qq.events import CHANNEL, PRIVATE, QQMessage, Target, conversation_chat_id
from bot.qq.files import FileTooLarge
from bot.qq.render import Out, Renderer
from bot.qq.sending import QQSender, SendResult, Transport
from bot.runtime.deliveries import Readiness
from bot.runtime.inbox import Arrival
from bot.runtime.languages import Languages
from bot.runtime.workers import ChatWorkers
from handlers import replies as catalogue
from handlers.apology import Apology
from handlers.core import ConversationCore
from handlers.types import Button, InboundFile, Reply, reply_from_json
from services import outbound, outbox
from services.db import Sessions
from services.handoff import DeliveryView, delivery_from_json, load_file, release_held
from services.inbound_queue import QueuedUpdate
from services.models import SendOutcome

log = logging.getLogger(__name__)

Outgoing = tuple[Target, list[Out]]
KEEP_NUMBERS = 10_000


def _mb(size: int) -> str:
    return f"{size / 1048576:.1f}".rstrip("0").rstrip(".")


class QQUpdates:
    """The `UpdateHandler` of the QQ channel (both protocols)."""

    def __init__(
        self,
        *,
        core: ConversationCore,
        sender: QQSender,
        renderer: Renderer,
        languages: Languages,
        sessions: Sessions,
        max_file_bytes: int,
        windows: bool,
        numbered: bool,
    ) -> None:
        self.core = core
        self.sender = sender
        self.transport: Transport = sender.transport
        self.renderer = renderer
        self.languages = languages
        self.sessions = sessions
        self.max_file_bytes = max_file_bytes
        self.windows = windows  # the official API: answers refer to the seller's message
        self.numbered = numbered
        # Called when a seller's new message lets held agent answers go (the delivery loop's wake).
        self.wake_deliveries: Callable[[], None] | None = None
        self.deliveries = QQDeliveries(sender, renderer, sessions)

    async def handle(self, update: QueuedUpdate) -> Outgoing:
        message = QQMessage.from_json(update.payload)
        target = Target.of(message)
        if self.windows:
            await self._open_window(message, update)
        notes: list[Out] = []
        files: tuple[InboundFile, ...] = ()
        if message.images:
            files, notes = await self._fetch(message)
        elif message.unsupported and not message.text and message.button is None:
            lang = await self._language(message)
            return target, self.renderer.text(catalogue.say("channel.qq.file_unsupported", lang))
        if message.images and not files:
            return target, notes
        replies = await self.core.handle(message.inbound(files=files, numbered=self.numbered))
        if self.windows:
            await self._release_held(message)
        # (Replies the core saved in the chat's outbox are sent from there: `send_queued`.)
        shown = (
            []
            if replies.queued
            else self.renderer.replies(replies, group=message.is_group, bot_id=message.self_id)
        )
        return target, notes + shown

    async def _open_window(self, message: QQMessage, update: QueuedUpdate) -> None:
        event_id = str(message.extra.get("event_id") or "")
        reference, kind = (
            (event_id, "event_id")
            if message.button is not None and event_id
            else (message.message_id, "msg_id")
        )
        if not reference:
            return
        # The window runs from when QQ says the message was sent (the platform's clock is the one
        # that counts), else from its arrival.
        sent = datetime.fromtimestamp(message.sent_at, UTC) if message.sent_at else update.received_at
        await outbound.open_window(
            self.sessions,
            channel=CHANNEL,
            chat_key=message.chat_key,
            user_id=message.user,
            reference=reference,
            reference_kind=kind,
            opened_at=sent,
        )

    async def _release_held(self, message: QQMessage) -> None:
        released = await release_held(
            sessions=self.sessions,
            channel=CHANNEL,
            chat_id=conversation_chat_id(message.kind, message.chat),
            thread_id=message.self_id,
            user_id=message.user,
        )
        if released:
            log.info(
                "QQ: %d agent message(s) for %s go with the seller's new message", released, message.chat_key
            )
            if self.wake_deliveries is not None:
                self.wake_deliveries()

    async def _fetch(self, message: QQMessage) -> tuple[tuple[InboundFile, ...], list[Out]]:
        """The seller's images; for one that cannot be had, a word to the seller (and for one too
        large, a note for the person handling the conversation)."""
        fetched: list[InboundFile] = []
        notes: list[Out] = []
        for image in message.images:
            try:
                data = await self.transport.download(
                    image, self_id=message.self_id, max_bytes=self.max_file_bytes
                )
            except FileTooLarge as exc:
                lang = await self._language(message)
                note = catalogue.say(
                    "handoff.file_not_received",
                    lang,
                    name=image.name or "image",
                    size_mb=_mb(exc.size),
                    limit_mb=_mb(exc.limit),
                )
                await self.core.handle(
                    dataclasses.replace(
                        message.inbound(text=note, numbered=self.numbered), for_person_only=True
                    )
                )
                notes += self.renderer.text(
                    catalogue.say(
                        "channel.file_too_large", lang, size_mb=_mb(exc.size), limit_mb=_mb(exc.limit)
                    )
                )
                continue
            except Exception as exc:
                log.warning("QQ: could not fetch an image from %s: %r", message.chat_key, exc)
                notes += self.renderer.text(
                    catalogue.say("channel.qq.image_failed", await self._language(message))
                )
                continue
            fetched.append(InboundFile(name=image.name or "image", data=data, mime_type=image.content_type))
        return tuple(fetched), notes

    async def _language(self, message: QQMessage) -> str:
        return await self.languages.of(
            chat_id=conversation_chat_id(message.kind, message.chat),
            user_id=message.user,
            thread_id=message.self_id,
            hint=None,
        )

    async def notify(self, payload: str, apology: Apology) -> Outgoing | None:
        message = QQMessage.from_json(payload)
        if not message.addressed:
            return None
        return Target.of(message), self.renderer.text(apology.text(await self._language(message)))

    async def send(self, update: QueuedUpdate | None, outgoing: Outgoing | None) -> None:
        if outgoing is None:
            return
        target, outs = outgoing
        if outs:
            await self.sender.send(target, outs)

    async def send_queued(self, item: outbox.Pending) -> outbox.Outcome:
        """One row of the chat's outbox: a turn's replies, answering the seller's message, or an
        agent's message."""
        delivery = delivery_from_json(item.payload)
        if delivery is not None:
            failure = await self.deliveries.deliver(delivery)
            return outbox.Outcome(item.id, sent=failure is None, failure=failure)
        payload = item.payload
        target = Target.of_conversation(
            str(payload.get("chat_id") or ""),
            str(payload.get("thread_id") or ""),
            str(payload.get("user_id") or ""),
            str(payload.get("reply_to") or ""),
        )
        replies = [reply_from_json(r) for r in payload.get("replies") or ()]
        outs = self.renderer.replies(replies, group=target.kind != PRIVATE, bot_id=target.self_id)
        return outcome_of(item.id, await self.sender.send(target, outs))


class QQIntake:
    """What the webhook, the gateway and the OneBot connection hand their messages to."""

    def __init__(self, workers: ChatWorkers[Outgoing], sessions: Sessions) -> None:
        self.workers = workers
        self.sessions = sessions
        # The numbers the inbox gave the latest messages, by event key (tests and benchmarks wait
        # for a message to be handled by its number).
        self.numbers: OrderedDict[str, int] = OrderedDict()
        self._stored = asyncio.Condition()

    async def accept(self, messages: Sequence[QQMessage]) -> list[int]:
        """Store the messages for the bot (a redelivery is dropped); returns their numbers. Raises
        if the database cannot store them."""
        kept = [m for m in [await self._for_bot(m) for m in messages] if m is not None]
        if not kept:
            return []
        arrivals = [Arrival(m.chat_key, m.to_json(), event_key=m.event_key) for m in kept]
        stored = await self.workers.inbox.store(arrivals)
        numbers = self.workers.accept_stored(stored)
        async with self._stored:
            for arrival, number in stored:
                if number is not None and arrival.event_key:
                    self.numbers[arrival.event_key] = number
            while len(self.numbers) > KEEP_NUMBERS:
                self.numbers.popitem(last=False)
            self._stored.notify_all()
        return numbers

    async def number_of(self, event_key: str) -> int:
        """The number of a message once it has been stored (waits for it)."""
        async with self._stored:
            await self._stored.wait_for(lambda: event_key in self.numbers)
            return self.numbers[event_key]

    def tell_users(self, messages: Sequence[QQMessage], exc: BaseException) -> None:
        self.workers.tell_users([m.to_json() for m in messages if m.addressed], exc)

    async def _for_bot(self, message: QQMessage) -> QQMessage | None:
        if message.kind == PRIVATE or message.addressed:
            return message
        reply_to = str(message.extra.get("reply_to") or "")
        if reply_to and await outbound.sent_by_bot(
            self.sessions, channel=CHANNEL, chat_key=message.chat_key, message_id=reply_to
        ):
            return dataclasses.replace(message, addressed=True)
        return None


class QQDeliveries:
    """The `DeliveryChannel` of QQ: an agent's message goes when the seller's QQ can take it."""

    def __init__(self, sender: QQSender, renderer: Renderer, sessions: Sessions) -> None:
        self.sender = sender
        self.renderer = renderer
        self.sessions = sessions

    @staticmethod
    def target(delivery: DeliveryView) -> Target:
        return Target.of_conversation(
            delivery.chat_id, delivery.thread_id, delivery.user_id, delivery.reply_to
        )

    async def readiness(self, delivery: DeliveryView) -> Readiness:
        return await self.sender.transport.readiness(self.target(delivery))

    def chat_key(self, delivery: DeliveryView) -> str:
        return self.target(delivery).chat_key

    async def deliver(self, delivery: DeliveryView) -> str | None:
        target = self.target(delivery)
        buttons = [Button(id=bid, label=label) for bid, label in delivery.buttons]
        stored = None
        if delivery.upload_id is not None:
            async with self.sessions() as session:
                stored = await load_file(session, delivery.upload_id)
        files = (InboundFile(stored.name, stored.data, stored.mime_type),) if stored is not None else ()
        reply = Reply(text=delivery.text, buttons=tuple(buttons), files=files)
        outs = self.renderer.replies([reply], group=target.kind != PRIVATE, bot_id=target.self_id)
        return outcome_of(0, await self.sender.send(target, outs)).failure


def outcome_of(outbox_id: int, results: Sequence[SendResult]) -> outbox.Outcome:
    """What sending a row came to: sent if every message went ("refused" if QQ refused one,
    "error" if whether one went is unknown)."""
    failure = None
    for result in results:
        if result.outcome is SendOutcome.FAILED:
            failure = failure or "refused"
        elif result.outcome is SendOutcome.UNKNOWN:
            failure = failure or "error"
    ids = [r.message_id for r in results if r.sent and r.message_id]
    return outbox.Outcome(outbox_id, sent=failure is None, message_ids=ids, failure=failure)
