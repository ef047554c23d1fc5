"""Start-up check of the agents' group: Telegram must say it is a forum supergroup and that the
bot is an administrator there allowed to manage topics (as an administrator the bot also sees
every message, privacy mode or not). Anything missing stops the start with what to do."""

from __future__ import annotations

from aiogram import Bot
from aiogram.enums import ChatMemberStatus, ChatType
from aiogram.exceptions import TelegramAPIError
from aiogram.methods import GetChat, GetChatMember
from aiogram.types import ChatMemberAdministrator

from bot.telegram.client import api_error_text
from bot.telegram.desk.base import DeskConfigError


async def check_desk(bot: Bot, chat_id: int, bot_user_id: int) -> str:
    """The group's title, or DeskConfigError saying what is missing and how to fix it."""
    where = f"telegram.agents_chat_id = {chat_id}"
    try:
        chat = await bot(GetChat(chat_id=chat_id))
    except TelegramAPIError as exc:
        raise DeskConfigError(
            f"{where}: Telegram cannot find that group for the bot ({api_error_text(exc)}). Add the bot to "
            "the agents' group and check the id (a supergroup's id starts with -100)."
        ) from None
    problems = []
    if chat.type != ChatType.SUPERGROUP or not chat.is_forum:
        problems.append(
            "the group is not a forum: turn on Topics in the group's settings "
            "(which also makes it a supergroup)"
        )
    try:
        member = await bot(GetChatMember(chat_id=chat_id, user_id=bot_user_id))
    except TelegramAPIError as exc:
        raise DeskConfigError(
            f"{where}: cannot read the bot's rights there ({api_error_text(exc)})"
        ) from None
    if member.status != ChatMemberStatus.ADMINISTRATOR or not isinstance(member, ChatMemberAdministrator):
        problems.append("the bot is not an administrator there: make it one, with the right to manage topics")
    elif not member.can_manage_topics:
        problems.append("the bot may not manage topics: give it the administrator right 'Manage topics'")
    if problems:
        title = f" ({chat.title})" if chat.title else ""
        raise DeskConfigError(f"{where}{title} cannot be the agents' desk: " + "; ".join(problems) + ".")
    return chat.title or str(chat_id)
