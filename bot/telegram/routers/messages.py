"""Text messages, in private chats and groups: to the core and back. A seller who edits a message
in a private chat while a person has the conversation: the new text goes to that person (the
core ignores it otherwise); the bot answers edits never."""

from __future__ import annotations

from dataclasses import replace

from aiogram import F, Router
from aiogram.methods import TelegramMethod
from aiogram.types import Message

from bot.runtime.languages import Languages
from bot.telegram.render import Renderer
from bot.telegram.routers.filters import AddressedToBot
from bot.telegram.translate import BotIdentity, language_hint, message_inbound, sender_id, thread_of
from handlers import replies
from handlers.core import ConversationCore


def messages_router() -> Router:
    router = Router(name="messages")

    @router.message(F.text, AddressedToBot())
    async def on_text(
        message: Message, conversation: ConversationCore, render: Renderer, identity: BotIdentity
    ) -> list[TelegramMethod]:
        inbound = message_inbound(message, identity)
        replies = await conversation.handle(inbound)
        return render.replies(
            message.chat.id,
            replies,
            thread_id=thread_of(message),
            reply_to=message.message_id if inbound.is_group else None,
        )

    @router.edited_message(F.text | F.caption, F.chat.type == "private")
    async def on_edit(
        message: Message, conversation: ConversationCore, identity: BotIdentity, languages: Languages
    ) -> list[TelegramMethod]:
        inbound = message_inbound(message, identity)
        lang = await languages.of(
            chat_id=message.chat.id,
            user_id=sender_id(message),
            thread_id=inbound.thread_id,
            hint=language_hint(message.from_user),
        )
        text = replies.say("handoff.seller_edited", lang, text=inbound.text)
        await conversation.handle(replace(inbound, text=text, for_person_only=True))
        return []

    return router
