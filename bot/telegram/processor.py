"""Telegram's part of the shared runtime (`bot.runtime.workers`): what a stored update means and how
its answer goes out, whichever client library received it.

Intake (polling, the webhook, or a host bot's dispatcher) turns each update — the Bot API's JSON
object — into an `Arrival` (its `update_id` orders the chat and recognises a redelivery) and gives
it to the chat workers. A worker hands each update to `TelegramUpdates.handle`, which routes it
(`UpdateRouter`: the desk's group first, then the sellers' handlers) to the Bot API calls to make;
the worker sends them through the sender (the outbound limiter, 429s obeyed) once the chat's turn
comes, then marks the update handled. A conversation turn's replies are saved by the core in the
chat's durable outbox with the turn, and sent from there (`bot.telegram.outbox`). A notice about
an update (an apology, "may not have been handled") goes to the chat the update came from, in the
user's language. An update whose handling fails gets the shared runtime's apology."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bot.runtime.inbox import Arrival
from bot.runtime.languages import Languages
from bot.runtime.workers import ChatWorkers
from bot.telegram.api import ApiCall
from bot.telegram.desk import DeskHandlers
from bot.telegram.outbox import TelegramQueued
from bot.telegram.render import Renderer
from bot.telegram.seller import SellerHandlers
from bot.telegram.sender import Sender
from bot.telegram.translate import (
    BUTTON_PREFIX,
    BotIdentity,
    Json,
    chat_key,
    entity_text,
    is_addressed,
    is_group,
    language_hint,
    reply_target,
    text_of,
    update_user,
)
from handlers.apology import Apology
from handlers.commands import COMMANDS
from services import outbox
from services.inbound_queue import QueuedUpdate

log = logging.getLogger(__name__)

# What Telegram is asked to send (polling, webhook, a host's allowed_updates). Edited messages
# matter in the agents' desk (an agent correcting an answer) and while a person has a seller's
# conversation.
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]


def payload_text(raw: Json) -> str:
    # ensure_ascii keeps a NUL character as the escape \\u0000 (PostgreSQL text refuses the byte).
    return json.dumps(raw, ensure_ascii=True, separators=(",", ":"))


def command_of(message: Json, identity: BotIdentity) -> str | None:
    """The name of the command a message starts with, if it is addressed to this bot."""
    entities = message.get("entities") or ()
    first = next((e for e in entities if e.get("type") == "bot_command" and e.get("offset") == 0), None)
    if first is None:
        return None
    name, _, addressee = entity_text(text_of(message), first).lstrip("/").partition("@")
    if addressee and addressee.casefold() != identity.username.casefold():
        return None
    return name.lower()


@dataclass(frozen=True)
class UpdateRouter:
    """Which handlers an update goes to, and — inside a host's bot — which updates are sellerbot's."""

    seller: SellerHandlers
    desk: DeskHandlers | None = None

    def claims(self, update: Json) -> bool:
        """Sellerbot's scope inside a host's bot: the desk's group; in private chats and where a
        group addresses the bot, text, files and sellerbot's own commands (another command is the
        host's); presses of sellerbot's buttons; a seller's edits in a private chat."""
        if self.desk is not None and self.desk.claims(update):
            return True
        if (query := update.get("callback_query")) is not None:
            return (query.get("data") or "").startswith(BUTTON_PREFIX)
        if (edited := update.get("edited_message")) is not None:
            return edited["chat"].get("type") == "private"
        message = update.get("message")
        if message is None or message["chat"].get("type") not in {"private", "group", "supergroup"}:
            return False
        identity = self.seller.identity
        if is_group(message["chat"]) and not is_addressed(message, identity):
            return False
        command = command_of(message, identity)
        return command is None or command in COMMANDS

    async def handle(self, update: Json) -> list[ApiCall]:
        if self.desk is not None and self.desk.claims(update):
            return await self.desk.handle(update)
        if (message := update.get("message")) is not None:
            return await self.seller.on_message(message)
        if (edited := update.get("edited_message")) is not None:
            return await self.seller.on_edit(edited)
        if (query := update.get("callback_query")) is not None:
            return await self.seller.on_button(query)
        return []


class TelegramUpdates:
    """The `UpdateHandler` of the Telegram channel."""

    def __init__(
        self,
        *,
        router: UpdateRouter,
        sender: Sender,
        render: Renderer,
        languages: Languages,
        queued: TelegramQueued,
    ) -> None:
        self.router = router
        self.sender = sender
        self.render = render
        self.languages = languages
        self.queued = queued

    def arrivals(self, raws: Iterable[Json]) -> list[Arrival]:
        """Updates as received (JSON objects), ready for the inbox; one that is not an update is
        logged and left out."""
        found = []
        for raw in raws:
            try:
                arrival = Arrival(
                    chat_key=chat_key(raw), payload=payload_text(raw), update_id=raw["update_id"]
                )
            except (KeyError, TypeError):
                log.error("ignoring an update that does not parse")
                continue
            found.append(arrival)
        return found

    async def handle(self, update: QueuedUpdate) -> list[ApiCall]:
        return await self.router.handle(json.loads(update.payload))

    async def notify(self, payload: str, apology: Apology) -> list[ApiCall]:
        return await self.message_about(json.loads(payload), apology)

    async def send(self, update: QueuedUpdate | None, outgoing: list[ApiCall]) -> None:
        await self.sender.deliver(outgoing)

    async def send_queued(self, item: outbox.Pending) -> outbox.Outcome:
        return await self.queued.send_queued(item)

    async def message_about(self, update: Json, apology: Apology) -> list[ApiCall]:
        """The apology (or notice) to the chat the update came from, in the user's language;
        nothing for a group message that was not for the bot. A pressed button's spinner is
        stopped."""
        message = update.get("message")
        if message is not None and not is_addressed(message, self.render.identity):
            return []
        methods: list[ApiCall] = []
        if (query := update.get("callback_query")) is not None:
            methods.append(ApiCall("answerCallbackQuery", {"callback_query_id": query["id"]}))
        target = reply_target(update)
        if target is None:
            return methods
        user = update_user(update)
        lang = await self.languages.of(
            chat_id=target[0], user_id=user["id"] if user else 0, hint=language_hint(user)
        )
        return methods + self.render.text(target[0], apology.text(lang), thread_id=target[1])


class TelegramIntake:
    """What polling, the webhook and a host's dispatcher hand their updates to: stored (for the
    chat workers), or, if they cannot be, each sender told."""

    def __init__(self, updates: TelegramUpdates, workers: ChatWorkers[list[ApiCall]]) -> None:
        self.updates = updates
        self.workers = workers

    async def accept(self, raws: Iterable[Json]) -> list[int]:
        """Store the updates; returns the ids that were new. Raises if the database cannot store
        them."""
        return await self.workers.accept(self.updates.arrivals(raws))

    def tell_users(self, raws: Iterable[dict[str, Any]], exc: BaseException) -> None:
        self.workers.tell_users([payload_text(raw) for raw in raws], exc)
