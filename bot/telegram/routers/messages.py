"""Text messages, in private chats and groups: to the core and back."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.methods import TelegramMethod
from aiogram.types import Message

from bot.telegram.render import Renderer
from bot.telegram.routers.filters import AddressedToBot
from bot.telegram.translate import BotIdentity, message_inbound, thread_of
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

    return router
