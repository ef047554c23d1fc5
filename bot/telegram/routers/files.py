"""Photos and documents reach the core as files; media the bot cannot read get a clear word.

Only what is addressed to the bot is looked at (in a group: with a caption mentioning it, or a
reply to it), so a group's holiday photos are never downloaded.
"""

from __future__ import annotations

from dataclasses import replace

from aiogram import F, Router
from aiogram.enums import ContentType
from aiogram.methods import TelegramMethod
from aiogram.types import Message

from bot.runtime.languages import Languages
from bot.telegram.files import FileFetcher, FileRef, FileTooLarge
from bot.telegram.render import Renderer
from bot.telegram.routers.filters import AddressedToBot
from bot.telegram.translate import BotIdentity, is_group, language_hint, message_inbound, sender_id, thread_of
from handlers import replies
from handlers.core import ConversationCore

UNSUPPORTED = {
    ContentType.STICKER,
    ContentType.VOICE,
    ContentType.VIDEO,
    ContentType.VIDEO_NOTE,
    ContentType.AUDIO,
    ContentType.ANIMATION,
    ContentType.LOCATION,
    ContentType.CONTACT,
    ContentType.VENUE,
    ContentType.POLL,
    ContentType.DICE,
}


def file_ref(message: Message) -> FileRef:
    if message.photo:
        best = max(message.photo, key=lambda p: (p.width * p.height, p.file_size or 0))
        return FileRef(best.file_id, best.file_size, f"photo_{best.file_unique_id}.jpg", "image/jpeg")
    document = message.document
    assert document is not None
    return FileRef(
        document.file_id, document.file_size, document.file_name or "document", document.mime_type or ""
    )


def _mb(size: int) -> str:
    return f"{size / 1048576:.1f}".rstrip("0").rstrip(".")


def files_router() -> Router:
    router = Router(name="files")

    @router.message(F.photo | F.document, AddressedToBot())
    async def on_file(
        message: Message,
        conversation: ConversationCore,
        render: Renderer,
        identity: BotIdentity,
        files: FileFetcher,
        languages: Languages,
    ) -> list[TelegramMethod]:
        reply_to = message.message_id if is_group(message.chat) else None
        try:
            file = await files.fetch(file_ref(message))
        except FileTooLarge as exc:
            lang = await languages.of(
                chat_id=message.chat.id,
                user_id=sender_id(message),
                thread_id=str(thread_of(message) or ""),
                hint=language_hint(message.from_user),
            )
            # A person handling the conversation must know a file came that nobody can see.
            note = replies.say(
                "handoff.file_not_received",
                lang,
                name=file_ref(message).name or "file",
                size_mb=_mb(exc.size),
                limit_mb=_mb(exc.limit),
            )
            inbound = message_inbound(message, identity, text=note)
            await conversation.handle(replace(inbound, for_person_only=True))
            text = replies.say("channel.file_too_large", lang, size_mb=_mb(exc.size), limit_mb=_mb(exc.limit))
            return render.text(message.chat.id, text, thread_id=thread_of(message), reply_to=reply_to)
        inbound = message_inbound(message, identity, files=(file,))
        answer = await conversation.handle(inbound)
        return render.replies(message.chat.id, answer, thread_id=thread_of(message), reply_to=reply_to)

    @router.message(F.content_type.in_(UNSUPPORTED), AddressedToBot())
    async def on_unsupported(
        message: Message, render: Renderer, languages: Languages
    ) -> list[TelegramMethod]:
        lang = await languages.of(
            chat_id=message.chat.id,
            user_id=sender_id(message),
            thread_id=str(thread_of(message) or ""),
            hint=language_hint(message.from_user),
        )
        return render.text(
            message.chat.id,
            replies.say("channel.file_unsupported", lang),
            thread_id=thread_of(message),
            reply_to=message.message_id if is_group(message.chat) else None,
        )

    return router
