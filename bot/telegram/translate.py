"""Telegram's objects in, the core's `Inbound` out: who wrote, where, in which language, and
whether a group message is addressed to the bot.

With privacy mode on, Telegram shows the bot only some group messages; the bot answers those
that are commands (`/help`, `/help@thisbot`, never `/help@otherbot`), mention its @username,
or reply to one of its own messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiogram.enums import ChatType, MessageEntityType
from aiogram.types import CallbackQuery, Chat, Message, Update, User

from handlers.types import Inbound, InboundFile

CHANNEL = "telegram"
# Prefix of the callback data of the core's buttons ("b:<button id>"); anything else is not ours.
BUTTON_PREFIX = "b:"
MAX_CALLBACK_DATA_BYTES = 64


@dataclass(frozen=True)
class BotIdentity:
    """Who the bot is, from getMe at start-up."""

    id: int
    username: str


def is_group(chat: Chat) -> bool:
    return chat.type in {ChatType.GROUP, ChatType.SUPERGROUP}


def thread_of(message: Message) -> int | None:
    """The forum topic a message belongs to (None outside forum topics)."""
    return message.message_thread_id if message.is_topic_message else None


def _entities(message: Message) -> list[tuple[str, str, Any]]:
    text = message.text if message.text is not None else message.caption
    entities = message.entities if message.text is not None else message.caption_entities
    if not text or not entities:
        return []
    return [(e.type, e.extract_from(text), e) for e in entities]


def is_addressed(message: Message, me: BotIdentity) -> bool:
    """In a private chat every message is for the bot; in a group only a command for it, a
    mention of it, or a reply to one of its messages."""
    if not is_group(message.chat):
        return True
    reply = message.reply_to_message
    if reply is not None and reply.from_user is not None and reply.from_user.id == me.id:
        return True
    username = me.username.casefold()
    for kind, value, entity in _entities(message):
        if kind == MessageEntityType.BOT_COMMAND and entity.offset == 0:
            _, _, addressee = value.partition("@")
            if not addressee or addressee.casefold() == username:
                return True
        elif kind == MessageEntityType.MENTION and value.casefold() == f"@{username}":
            return True
        elif kind == MessageEntityType.TEXT_MENTION and entity.user is not None and entity.user.id == me.id:
            return True
    return False


def display_name(user: User | None, chat: Chat | None = None) -> str:
    if user is not None:
        return user.full_name
    return (chat.title or "") if chat is not None else ""


def language_hint(user: User | None) -> str | None:
    return user.language_code if user is not None and user.language_code else None


def sender_id(message: Message) -> int:
    """The author: the user, or for an anonymous group admin or a channel, the chat it posts as."""
    if message.sender_chat is not None:
        return message.sender_chat.id
    assert message.from_user is not None
    return message.from_user.id


def message_inbound(
    message: Message,
    me: BotIdentity,
    *,
    text: str | None = None,
    files: tuple[InboundFile, ...] = (),
) -> Inbound:
    group = is_group(message.chat)
    thread = thread_of(message)
    return Inbound(
        channel=CHANNEL,
        chat_id=str(message.chat.id),
        user_id=str(sender_id(message)),
        text=text if text is not None else (message.text or message.caption or ""),
        thread_id=str(thread) if thread is not None else "",
        display_name=display_name(message.from_user, message.sender_chat),
        files=files,
        is_group=group,
        addressed_to_bot=is_addressed(message, me),
        language_hint=language_hint(message.from_user),
        message_id=str(message.message_id),
        # In a group the answer quotes the question (which also says whose a keyboard is).
        reply_to=str(message.message_id) if group else "",
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


def callback_message(query: CallbackQuery) -> Message | None:
    """The message the pressed button is on, if the bot can still see it."""
    message = query.message
    return message if isinstance(message, Message) else None


def callback_inbound(query: CallbackQuery, button: str) -> Inbound:
    message = callback_message(query)
    chat = message.chat if message is not None else None
    thread = thread_of(message) if message is not None else None
    group = chat is not None and is_group(chat)
    # In a group the answer quotes the question the pressed keyboard answered.
    quoted = message.reply_to_message if group and message is not None else None
    return Inbound(
        channel=CHANNEL,
        chat_id=str(chat.id if chat is not None else query.from_user.id),
        user_id=str(query.from_user.id),
        thread_id=str(thread) if thread is not None else "",
        display_name=display_name(query.from_user),
        is_group=chat is not None and is_group(chat),
        addressed_to_bot=True,
        button=button,
        language_hint=language_hint(query.from_user),
        reply_to=str(quoted.message_id) if quoted is not None else "",
    )


def chat_key(update: Update) -> str:
    """The ordering domain of an update: its chat, or in a forum its topic (a conversation of its
    own, like a chat). Updates with no chat are ordered by their sender."""
    message: Message | None = update.message or update.edited_message
    if message is None and update.callback_query is not None:
        message = callback_message(update.callback_query)
        if message is None:
            return f"user:{update.callback_query.from_user.id}"
    if message is not None:
        thread = thread_of(message)
        return f"{message.chat.id}:{thread}" if thread is not None else str(message.chat.id)
    event = _event(update)
    chat = getattr(event, "chat", None)
    if chat is not None:
        return str(chat.id)
    user = getattr(event, "from_user", None)
    if user is not None:
        return f"user:{user.id}"
    return f"update:{update.update_id}"


def _event(update: Update) -> Any:
    try:
        return update.event
    except LookupError:  # an update type newer than this aiogram
        return None


def update_user(update: Update) -> User | None:
    if update.message is not None:
        return update.message.from_user
    if update.callback_query is not None:
        return update.callback_query.from_user
    return getattr(_event(update), "from_user", None)


def reply_target(update: Update) -> tuple[int, int | None] | None:
    """(chat id, forum topic) where a message about this update should go, if any."""
    message = update.message
    if message is None and update.callback_query is not None:
        message = callback_message(update.callback_query)
        if message is None:
            return (update.callback_query.from_user.id, None)
    if message is None:
        return None
    return (message.chat.id, thread_of(message))
