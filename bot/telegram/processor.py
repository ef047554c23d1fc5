"""Telegram's part of the shared runtime (`bot.runtime.workers`): what a stored update means and how
its answer goes out.

Intake (polling or the webhook) turns each update into an `Arrival` (its `update_id` orders the
chat and recognises a redelivery) and gives it to the chat workers. A worker hands each update to
`TelegramUpdates.handle`, which feeds it to the aiogram dispatcher, whose routers return the Bot
API calls to make; the worker sends them through the sender (the outbound limiter, 429s obeyed)
once the chat's turn comes, then marks the update handled. A conversation turn's replies are saved
by the core in the chat's durable outbox with the turn, and sent from there
(`bot.telegram.outbox`). A notice about an update (an apology, "may not have been handled") goes
to the chat the update came from, in the user's language."""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.methods import AnswerCallbackQuery, TelegramMethod
from aiogram.types import Update

from bot.runtime.inbox import Arrival
from bot.runtime.languages import Languages
from bot.runtime.workers import ChatWorkers
from bot.telegram.outbox import TelegramQueued
from bot.telegram.render import Renderer
from bot.telegram.sender import Sender
from bot.telegram.translate import chat_key, is_addressed, language_hint, reply_target, update_user
from handlers.apology import Apology
from services import outbox
from services.inbound_queue import QueuedUpdate

log = logging.getLogger(__name__)

PARSED_KEPT = 10_000


def as_methods(result: Any) -> list[TelegramMethod]:
    """What a handler returned, as a list of calls to make."""
    if result is None or result is UNHANDLED:
        return []
    if isinstance(result, TelegramMethod):
        return [result]
    if isinstance(result, Iterable) and not isinstance(result, str | bytes):
        return [m for m in result if isinstance(m, TelegramMethod)]
    return []


def payload_text(raw: dict[str, Any]) -> str:
    # ensure_ascii keeps a NUL character as the escape \\u0000 (PostgreSQL text refuses the byte).
    return json.dumps(raw, ensure_ascii=True, separators=(",", ":"))


class TelegramUpdates:
    """The `UpdateHandler` of the Telegram channel."""

    def __init__(
        self,
        *,
        dispatcher: Dispatcher,
        bot: Bot,
        sender: Sender,
        render: Renderer,
        languages: Languages,
        queued: TelegramQueued,
    ) -> None:
        self.dispatcher = dispatcher
        self.bot = bot
        self.sender = sender
        self.render = render
        self.languages = languages
        self.queued = queued
        # Updates parsed at intake, by update_id, for the worker that handles them (parsing one is
        # a good part of handling it); a process that did not receive an update parses it again.
        self._parsed: OrderedDict[int, Update] = OrderedDict()

    def arrivals(self, raws: Iterable[dict[str, Any]]) -> list[Arrival]:
        """Updates as received (JSON objects), ready for the inbox; one that does not parse is
        logged and left out."""
        found = []
        for raw in raws:
            update = self._parse(raw)
            if update is None:
                log.error("ignoring an update that does not parse")
                continue
            found.append(
                Arrival(chat_key=chat_key(update), payload=payload_text(raw), update_id=update.update_id)
            )
            self._parsed[update.update_id] = update
            if len(self._parsed) > PARSED_KEPT:
                self._parsed.popitem(last=False)
        return found

    def _parse(self, raw: dict[str, Any]) -> Update | None:
        try:
            return Update.model_validate(raw, context={"bot": self.bot})
        except Exception as exc:
            log.debug("update does not parse: %s", type(exc).__name__)
            return None

    async def handle(self, update: QueuedUpdate) -> list[TelegramMethod]:
        parsed = self._parsed.pop(update.update_id, None) or self._parse(json.loads(update.payload))
        if parsed is None:
            log.error("stored update %s does not parse; skipped", update.update_id)
            return []
        return as_methods(await self.dispatcher.feed_update(self.bot, parsed))

    async def notify(self, payload: str, apology: Apology) -> list[TelegramMethod]:
        update = self._parse(json.loads(payload))
        if update is None:
            return []
        return await self.message_about(update, apology)

    async def send(self, update: QueuedUpdate | None, outgoing: list[TelegramMethod]) -> None:
        await self.sender.deliver(outgoing)

    async def send_queued(self, item: outbox.Pending) -> outbox.Outcome:
        return await self.queued.send_queued(item)

    async def message_about(self, update: Update, apology: Apology) -> list[TelegramMethod]:
        return await message_about(update, apology, render=self.render, languages=self.languages)


class TelegramIntake:
    """What polling and the webhook hand their updates to: stored (for the chat workers), or, if
    they cannot be, each sender told."""

    def __init__(self, updates: TelegramUpdates, workers: ChatWorkers[list[TelegramMethod]]) -> None:
        self.updates = updates
        self.workers = workers

    async def accept(self, raws: Iterable[dict[str, Any]]) -> list[int]:
        """Store the updates; returns the ids that were new. Raises if the database cannot store
        them."""
        return await self.workers.accept(self.updates.arrivals(raws))

    def tell_users(self, raws: Iterable[dict[str, Any]], exc: BaseException) -> None:
        self.workers.tell_users([payload_text(raw) for raw in raws], exc)


async def message_about(
    update: Update, apology: Apology, *, render: Renderer, languages: Languages
) -> list[TelegramMethod]:
    """The apology (or notice) to the chat the update came from, in the user's language; nothing
    for a group message that was not for the bot. A pressed button's spinner is stopped."""
    if update.message is not None and not is_addressed(update.message, render.identity):
        return []
    methods: list[TelegramMethod] = []
    if update.callback_query is not None:
        methods.append(AnswerCallbackQuery(callback_query_id=update.callback_query.id))
    target = reply_target(update)
    if target is None:
        return methods
    user = update_user(update)
    lang = await languages.of(chat_id=target[0], user_id=user.id if user else 0, hint=language_hint(user))
    return methods + render.text(target[0], apology.text(lang), thread_id=target[1])
