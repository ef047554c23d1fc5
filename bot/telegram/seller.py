"""What sellers send, as Bot API updates: text, commands, files, media the bot cannot read,
pressed buttons and edits, to the core and back as Bot API calls. Each handler only translates —
Telegram's objects to the core's `Inbound`, the core's replies to calls — and returns the calls;
the processor makes them once the update is marked handled.

Only what is addressed to the bot is looked at (in a group: a command for it, a mention, a
reply to it), so a group's holiday photos are never downloaded.

Pressed buttons: every press is answered (answerCallbackQuery), so the client stops its spinner.
Data that is not one of the core's buttons (an older bot's, or forged) is answered "no longer
valid" and changes nothing. In a group, a keyboard belongs to the person whose question it
answers (the bot's message quotes it); someone else's press is turned away. Otherwise the press
goes to the core; if it took effect, the message it was on is updated: the keyboard removed and
the chosen option marked, so the chat shows what was chosen and the buttons cannot be pressed
again. A press the core refused (already used, expired) leaves the message as it is.

A seller who edits a message in a private chat while a person has the conversation: the new text
goes to that person (the core ignores it otherwise); the bot answers edits never.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from bot.runtime.languages import Languages
from bot.telegram.api import ApiCall
from bot.telegram.files import FileFetcher, FileRef, FileTooLarge
from bot.telegram.render import MAX_MESSAGE_UTF16, NO_PREVIEW, Renderer, utf16_len
from bot.telegram.translate import (
    BotIdentity,
    Json,
    button_id,
    callback_inbound,
    callback_message,
    chat_id_of,
    full_name,
    is_addressed,
    is_group,
    language_hint,
    message_inbound,
    sender_id,
    thread_of,
)
from handlers import replies
from handlers.core import ConversationCore
from handlers.types import Reply

# Media the bot cannot read (the Bot API field that carries each).
UNSUPPORTED = (
    "sticker",
    "voice",
    "video",
    "video_note",
    "audio",
    "animation",
    "location",
    "contact",
    "venue",
    "poll",
    "dice",
)


def is_unsupported(message: Json) -> bool:
    return any(kind in message for kind in UNSUPPORTED)


def has_file(message: Json) -> bool:
    return bool(message.get("photo") or message.get("document"))


def file_ref(message: Json) -> FileRef:
    if message.get("photo"):
        best = max(message["photo"], key=lambda p: (p["width"] * p["height"], p.get("file_size") or 0))
        return FileRef(
            best["file_id"], best.get("file_size"), f"photo_{best['file_unique_id']}.jpg", "image/jpeg"
        )
    document = message["document"]
    return FileRef(
        document["file_id"],
        document.get("file_size"),
        document.get("file_name") or "document",
        document.get("mime_type") or "",
    )


def megabytes(size: int) -> str:
    return f"{size / 1048576:.1f}".rstrip("0").rstrip(".")


def took_effect(answer: Sequence[Reply]) -> bool:
    """Whether the core took the press (and so the option may be marked chosen)."""
    return bool(answer) and not answer[0].button_refused


def pressed_label(message: Json, data: str) -> str | None:
    for row in (message.get("reply_markup") or {}).get("inline_keyboard") or ():
        for button in row:
            if button.get("callback_data") == data:
                return button.get("text")
    return None


def mark_chosen(message: Json, label: str, lang: str) -> ApiCall:
    """Remove the keyboard and add the chosen option under the text (or, if the text would get
    too long, only remove the keyboard)."""
    place = {"chat_id": chat_id_of(message), "message_id": message["message_id"]}
    if message.get("text"):
        text = f"{message['text']}\n\n{replies.say('channel.chosen', lang, label=label)}"
        if utf16_len(text) <= MAX_MESSAGE_UTF16:
            # editMessageText without a reply_markup also removes the inline keyboard.
            return ApiCall("editMessageText", {**place, "text": text, "link_preview_options": NO_PREVIEW})
    return ApiCall("editMessageReplyMarkup", place)


def asker_of(message: Json) -> int | None:
    """In a group, the author of the question the bot's message answers (it quotes it)."""
    quoted = message.get("reply_to_message")
    if quoted is None:
        return None
    if quoted.get("sender_chat") is not None:
        return quoted["sender_chat"]["id"]
    return (quoted.get("from") or {}).get("id")


def alert(query: Json, text: str) -> list[ApiCall]:
    return [
        ApiCall("answerCallbackQuery", {"callback_query_id": query["id"], "text": text, "show_alert": True})
    ]


@dataclass(frozen=True)
class SellerHandlers:
    conversation: ConversationCore
    render: Renderer
    files: FileFetcher
    identity: BotIdentity
    languages: Languages

    async def on_message(self, message: Json) -> list[ApiCall]:
        if not is_addressed(message, self.identity):
            return []
        if has_file(message):
            return await self.on_file(message)
        if is_unsupported(message):
            return await self.on_unsupported(message)
        if message.get("text"):
            return await self.on_text(message)
        return []  # service messages (members joined, a title changed, …)

    async def _language(self, message: Json) -> str:
        return await self.languages.of(
            chat_id=chat_id_of(message),
            user_id=sender_id(message),
            thread_id=str(thread_of(message) or ""),
            hint=language_hint(message.get("from")),
        )

    def _answer(self, message: Json, answer: Sequence[Reply]) -> list[ApiCall]:
        reply_to = message["message_id"] if is_group(message["chat"]) else None
        return self.render.replies(
            chat_id_of(message), answer, thread_id=thread_of(message), reply_to=reply_to
        )

    def _say(self, message: Json, text: str) -> list[ApiCall]:
        reply_to = message["message_id"] if is_group(message["chat"]) else None
        return self.render.text(chat_id_of(message), text, thread_id=thread_of(message), reply_to=reply_to)

    async def on_text(self, message: Json) -> list[ApiCall]:
        answer = await self.conversation.handle(message_inbound(message, self.identity))
        return self._answer(message, answer)

    async def on_file(self, message: Json) -> list[ApiCall]:
        ref = file_ref(message)
        try:
            file = await self.files.fetch(ref)
        except FileTooLarge as exc:
            lang = await self._language(message)
            size, limit = megabytes(exc.size), megabytes(exc.limit)
            # A person handling the conversation must know a file came that nobody can see.
            note = replies.say(
                "handoff.file_not_received", lang, name=ref.name or "file", size_mb=size, limit_mb=limit
            )
            inbound = message_inbound(message, self.identity, text=note)
            await self.conversation.handle(replace(inbound, for_person_only=True))
            return self._say(
                message, replies.say("channel.file_too_large", lang, size_mb=size, limit_mb=limit)
            )
        answer = await self.conversation.handle(message_inbound(message, self.identity, files=(file,)))
        return self._answer(message, answer)

    async def on_unsupported(self, message: Json) -> list[ApiCall]:
        return self._say(message, replies.say("channel.file_unsupported", await self._language(message)))

    async def on_edit(self, message: Json) -> list[ApiCall]:
        if message["chat"].get("type") != "private" or not (message.get("text") or message.get("caption")):
            return []
        inbound = message_inbound(message, self.identity)
        text = replies.say("handoff.seller_edited", await self._language(message), text=inbound.text)
        await self.conversation.handle(replace(inbound, text=text, for_person_only=True))
        return []

    async def _presser_language(self, query: Json, message: Json | None) -> str:
        user = query["from"]
        return await self.languages.of(
            chat_id=chat_id_of(message) if message is not None else user["id"],
            user_id=user["id"],
            hint=language_hint(user),
        )

    async def on_button(self, query: Json) -> list[ApiCall]:
        button = button_id(query.get("data"))
        message = callback_message(query)
        if button is None:
            return alert(query, replies.say("buttons.expired", await self._presser_language(query, message)))
        user = query["from"]
        group = message is not None and is_group(message["chat"])
        asker = asker_of(message) if group and message is not None else None
        if asker is not None and asker != user["id"]:
            lang = await self._presser_language(query, message)
            return alert(query, replies.say("channel.button_not_yours", lang))
        inbound = callback_inbound(query, button)
        answer = await self.conversation.handle(inbound)
        methods = [ApiCall("answerCallbackQuery", {"callback_query_id": query["id"]})]
        if message is None:
            return methods + self.render.replies(user["id"], answer)
        if took_effect(answer):
            label = pressed_label(message, query.get("data") or "")
            if label is not None:
                lang = await self.languages.of(
                    chat_id=chat_id_of(message),
                    user_id=user["id"],
                    thread_id=inbound.thread_id,
                    hint=inbound.language_hint,
                )
                methods.append(mark_chosen(message, label, lang))
        quoted = message.get("reply_to_message") if group else None
        methods += self.render.replies(
            chat_id_of(message),
            answer,
            thread_id=thread_of(message),
            reply_to=quoted["message_id"] if quoted is not None else None,
        )
        return methods


__all__ = ["SellerHandlers", "full_name"]
