"""Filters shared by the routers."""

from __future__ import annotations

from aiogram.filters import Filter
from aiogram.types import Message

from bot.telegram.translate import BotIdentity, is_addressed


class AddressedToBot(Filter):
    """Every private message; in a group, commands for this bot, mentions of it and replies to it."""

    async def __call__(self, message: Message, identity: BotIdentity) -> bool:
        return is_addressed(message, identity)
