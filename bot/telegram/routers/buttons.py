"""Pressed inline buttons (callback queries).

Every press is answered (answerCallbackQuery), so the client stops its spinner. Data that is
not one of the core's buttons (an older bot's, or forged) is answered "no longer valid" and
changes nothing. In a group, a keyboard belongs to the person whose question it answers (the
bot's message quotes it); someone else's press is turned away. Otherwise the press goes to the
core; if it took effect, the message it was on is updated: the keyboard removed and the chosen
option marked, so the chat shows what was chosen and the buttons cannot be pressed again. A
press the core refused (already used, expired) leaves the message as it is.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiogram import F, Router
from aiogram.methods import AnswerCallbackQuery, EditMessageReplyMarkup, EditMessageText, TelegramMethod
from aiogram.types import CallbackQuery, LinkPreviewOptions, Message

from bot.runtime.languages import Languages
from bot.telegram.render import MAX_MESSAGE_UTF16, Renderer, utf16_len
from bot.telegram.translate import (
    BUTTON_PREFIX,
    button_id,
    callback_inbound,
    callback_message,
    is_group,
    language_hint,
    thread_of,
)
from handlers import replies
from handlers.core import ConversationCore
from handlers.types import Reply


def took_effect(answer: Sequence[Reply]) -> bool:
    """Whether the core took the press (and so the option may be marked chosen)."""
    return bool(answer) and not answer[0].button_refused


def pressed_label(message: Message, data: str) -> str | None:
    markup = message.reply_markup
    if markup is None:
        return None
    for row in markup.inline_keyboard:
        for button in row:
            if button.callback_data == data:
                return button.text
    return None


def mark_chosen(message: Message, label: str, lang: str) -> TelegramMethod:
    """Remove the keyboard and add the chosen option under the text (or, if the text would get
    too long, only remove the keyboard)."""
    if message.text:
        text = f"{message.text}\n\n{replies.say('channel.chosen', lang, label=label)}"
        if utf16_len(text) <= MAX_MESSAGE_UTF16:
            # editMessageText without a reply_markup also removes the inline keyboard.
            return EditMessageText(
                chat_id=message.chat.id,
                message_id=message.message_id,
                text=text,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
    return EditMessageReplyMarkup(chat_id=message.chat.id, message_id=message.message_id, reply_markup=None)


def asker_of(message: Message) -> int | None:
    """In a group, the author of the question the bot's message answers (it quotes it)."""
    quoted = message.reply_to_message
    if quoted is None:
        return None
    if quoted.sender_chat is not None:
        return quoted.sender_chat.id
    return quoted.from_user.id if quoted.from_user is not None else None


def buttons_router() -> Router:
    router = Router(name="buttons")

    @router.callback_query(F.data.startswith(BUTTON_PREFIX))
    async def on_button(
        query: CallbackQuery, conversation: ConversationCore, render: Renderer, languages: Languages
    ) -> list[TelegramMethod]:
        button = button_id(query.data)
        message = callback_message(query)
        if button is None:
            return await on_unknown(query, languages)
        group = message is not None and is_group(message.chat)
        asker = asker_of(message) if group and message is not None else None
        if asker is not None and asker != query.from_user.id:
            lang = await languages.of(
                chat_id=message.chat.id if message else query.from_user.id,
                user_id=query.from_user.id,
                hint=language_hint(query.from_user),
            )
            text = replies.say("channel.button_not_yours", lang)
            return [AnswerCallbackQuery(callback_query_id=query.id, text=text, show_alert=True)]
        inbound = callback_inbound(query, button)
        answer = await conversation.handle(inbound)
        methods: list[TelegramMethod] = [AnswerCallbackQuery(callback_query_id=query.id)]
        if message is None:
            return methods + render.replies(query.from_user.id, answer)
        if took_effect(answer):
            label = pressed_label(message, query.data or "")
            if label is not None:
                lang = await languages.of(
                    chat_id=message.chat.id,
                    user_id=query.from_user.id,
                    thread_id=inbound.thread_id,
                    hint=inbound.language_hint,
                )
                methods.append(mark_chosen(message, label, lang))
        quoted = message.reply_to_message.message_id if group and message.reply_to_message else None
        methods += render.replies(message.chat.id, answer, thread_id=thread_of(message), reply_to=quoted)
        return methods

    @router.callback_query()
    async def on_unknown(query: CallbackQuery, languages: Languages) -> list[TelegramMethod]:
        message = callback_message(query)
        lang = await languages.of(
            chat_id=message.chat.id if message else query.from_user.id,
            user_id=query.from_user.id,
            hint=language_hint(query.from_user),
        )
        return [
            AnswerCallbackQuery(
                callback_query_id=query.id, text=replies.say("buttons.expired", lang), show_alert=True
            )
        ]

    return router
