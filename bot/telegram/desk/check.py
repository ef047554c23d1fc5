"""Start-up check of the agents' group: Telegram must say it is a forum supergroup and that the
bot is an administrator there allowed to manage topics (as an administrator the bot also sees
every message, privacy mode or not). Anything missing stops the start with what to do."""

from __future__ import annotations

from bot.telegram.api import ApiCall, ApiClient, ApiError, api_error_text
from bot.telegram.desk.base import DeskConfigError


async def check_desk(api: ApiClient, chat_id: int, bot_user_id: int) -> str:
    """The group's title, or DeskConfigError saying what is missing and how to fix it."""
    where = f"telegram.agents_chat_id = {chat_id}"
    try:
        chat = await api(ApiCall("getChat", {"chat_id": chat_id}))
    except ApiError as exc:
        raise DeskConfigError(
            f"{where}: Telegram cannot find that group for the bot ({api_error_text(exc)}). Add the bot to "
            "the agents' group and check the id (a supergroup's id starts with -100)."
        ) from None
    problems = []
    if chat.get("type") != "supergroup" or not chat.get("is_forum"):
        problems.append(
            "the group is not a forum: turn on Topics in the group's settings "
            "(which also makes it a supergroup)"
        )
    try:
        member = await api(ApiCall("getChatMember", {"chat_id": chat_id, "user_id": bot_user_id}))
    except ApiError as exc:
        raise DeskConfigError(
            f"{where}: cannot read the bot's rights there ({api_error_text(exc)})"
        ) from None
    if member.get("status") != "administrator":
        problems.append("the bot is not an administrator there: make it one, with the right to manage topics")
    elif not member.get("can_manage_topics"):
        problems.append("the bot may not manage topics: give it the administrator right 'Manage topics'")
    if problems:
        title = f" ({chat['title']})" if chat.get("title") else ""
        raise DeskConfigError(f"{where}{title} cannot be the agents' desk: " + "; ".join(problems) + ".")
    return chat.get("title") or str(chat_id)
