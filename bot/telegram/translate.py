"""Bot API updates (JSON objects, as Telegram sends them) in, the core's `Inbound` out: who wrote,
where, in which language, and whether a group message is addressed to the bot.

With privacy mode on, Telegram shows the bot only some group messages; the bot answers those
that are commands (`/help`, `/help@thisbot`, never `/help@otherbot`), mention its @username,
or reply to one of its own messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from handlers.types import Inbound, InboundFile

CHANNEL = "telegram"
# Prefix of the callback data of the core's buttons ("b:<button id>"); anything else is not ours.
BUTTON_PREFIX = "b:"
MAX_CALLBACK_DATA_BYTES = 64

Json = dict[str, Any]


@dataclass(frozen=True)
class BotIdentity:
    """Who the bot is, from getMe at start-up."""

    id: int
    username: str


def is_group(chat: Json | None) -> bool:
    return chat is not None and chat.get("type") in {"group", "supergroup"}


def chat_id_of(message: Json) -> int:
    return message["chat"]["id"]


def thread_of(message: Json) -> int | None:
    """The forum topic a message belongs to (None outside forum topics)."""
    return message.get("message_thread_id") if message.get("is_topic_message") else None


def text_of(message: Json) -> str:
    text = message.get("text")
    return text if text is not None else (message.get("caption") or "")


def entity_text(text: str, entity: Json) -> str:
    """The part of `text` an entity covers (Telegram counts UTF-16 code units)."""
    units = text.encode("utf-16-le")
    start, length = entity.get("offset", 0) * 2, entity.get("length", 0) * 2
    return units[start : start + length].decode("utf-16-le", errors="replace")


def _entities(message: Json) -> list[Json]:
    if message.get("text") is not None:
        return message.get("entities") or []
    return message.get("caption_entities") or []


def is_addressed(message: Json, me: BotIdentity) -> bool:
    """In a private chat every message is for the bot; in a group only a command for it, a
    mention of it, or a reply to one of its messages."""
    if not is_group(message.get("chat")):
        return True
    reply = message.get("reply_to_message")
    if reply is not None and (reply.get("from") or {}).get("id") == me.id:
        return True
    username = me.username.casefold()
    text = text_of(message)
    for entity in _entities(message):
        kind = entity.get("type")
        if kind == "bot_command" and entity.get("offset") == 0:
            _, _, addressee = entity_text(text, entity).partition("@")
            if not addressee or addressee.casefold() == username:
                return True
        elif kind == "mention" and entity_text(text, entity).casefold() == f"@{username}":
            return True
        elif kind == "text_mention" and (entity.get("user") or {}).get("id") == me.id:
            return True
    return False


def full_name(user: Json) -> str:
    last = user.get("last_name")
    return f"{user.get('first_name', '')} {last}" if last else user.get("first_name", "")


def display_name(user: Json | None, chat: Json | None = None) -> str:
    if user is not None:
        return full_name(user)
    return (chat.get("title") or "") if chat is not None else ""


def language_hint(user: Json | None) -> str | None:
    return (user.get("language_code") or None) if user is not None else None


def sender_id(message: Json) -> int:
    """The author: the user, or for an anonymous group admin or a channel, the chat it posts as."""
    if message.get("sender_chat") is not None:
        return message["sender_chat"]["id"]
    return message["from"]["id"]


def message_inbound(
    message: Json,
    me: BotIdentity,
    *,
    text: str | None = None,
    files: tuple[InboundFile, ...] = (),
) -> Inbound:
    group = is_group(message["chat"])
    thread = thread_of(message)
    return Inbound(
        channel=CHANNEL,
        chat_id=str(chat_id_of(message)),
        user_id=str(sender_id(message)),
        text=text if text is not None else text_of(message),
        thread_id=str(thread) if thread is not None else "",
        display_name=display_name(message.get("from"), message.get("sender_chat")),
        files=files,
        is_group=group,
        addressed_to_bot=is_addressed(message, me),
        language_hint=language_hint(message.get("from")),
        message_id=str(message["message_id"]),
        # In a group the answer quotes the question (which also says whose a keyboard is).
        reply_to=str(message["message_id"]) if group else "",
    )


def button_id(data: str | None) -> str | None:
    """The core's button id in callback data, or None for data that is not one of ours."""
    if not data or not data.startswith(BUTTON_PREFIX) or len(data.encode()) > MAX_CALLBACK_DATA_BYTES:
        return None
    value = data[len(BUTTON_PREFIX) :]
    return value if value and value.isascii() and value.isprintable() else None


def callback_data(button: str) -> str | None:
    """Callback data for a core button id, or None if it would not fit Telegram's 64 bytes."""
    data = f"{BUTTON_PREFIX}{button}"
    return data if len(data.encode()) <= MAX_CALLBACK_DATA_BYTES else None


def callback_message(query: Json) -> Json | None:
    """The message the pressed button is on, if the bot can still see it (an inaccessible one
    comes with date 0)."""
    message = query.get("message")
    return message if message is not None and message.get("date") else None


def callback_inbound(query: Json, button: str) -> Inbound:
    message = callback_message(query)
    chat = message["chat"] if message is not None else None
    thread = thread_of(message) if message is not None else None
    group = is_group(chat)
    user = query["from"]
    # In a group the answer quotes the question the pressed keyboard answered.
    quoted = message.get("reply_to_message") if group and message is not None else None
    return Inbound(
        channel=CHANNEL,
        chat_id=str(chat["id"] if chat is not None else user["id"]),
        user_id=str(user["id"]),
        thread_id=str(thread) if thread is not None else "",
        display_name=display_name(user),
        is_group=group,
        addressed_to_bot=True,
        button=button,
        language_hint=language_hint(user),
        reply_to=str(quoted["message_id"]) if quoted is not None else "",
    )


def event_of(update: Json) -> tuple[str, Json | None]:
    """The update's kind (its one field besides update_id) and object."""
    for key, value in update.items():
        if key != "update_id" and isinstance(value, dict):
            return key, value
    return "", None


def chat_key(update: Json) -> str:
    """The ordering domain of an update: its chat, or in a forum its topic (a conversation of its
    own, like a chat). Updates with no chat are ordered by their sender."""
    message = update.get("message") or update.get("edited_message")
    query = update.get("callback_query")
    if message is None and query is not None:
        message = callback_message(query)
        if message is None:
            return f"user:{query['from']['id']}"
    if message is not None:
        thread = thread_of(message)
        return f"{chat_id_of(message)}:{thread}" if thread is not None else str(chat_id_of(message))
    _, event = event_of(update)
    if event is not None and isinstance(event.get("chat"), dict):
        return str(event["chat"]["id"])
    if event is not None and isinstance(event.get("from"), dict):
        return f"user:{event['from']['id']}"
    return f"update:{update.get('update_id')}"


def update_user(update: Json) -> Json | None:
    _, event = event_of(update)
    return event.get("from") if event is not None else None


def reply_target(update: Json) -> tuple[int, int | None] | None:
    """(chat id, forum topic) where a message about this update should go, if any."""
    message = update.get("message")
    query = update.get("callback_query")
    if message is None and query is not None:
        message = callback_message(query)
        if message is None:
            return (query["from"]["id"], None)
    if message is None:
        return None
    return (chat_id_of(message), thread_of(message))
