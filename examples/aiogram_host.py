"""A host bot on aiogram with a command of its own, /weather (with a button of its own), that also
serves sellerbot: FAQ, actions, handoff to people and the agents' desk — one router added to the
host's `Dispatcher`, one token.

    pip install -e '.[telegram]'
    SELLERBOT_TELEGRAM__TOKEN=123456:ABC... python -m examples.aiogram_host

Sellerbot's configuration is its usual one (SELLERBOT_CONFIG or SELLERBOT_* variables: the
database, Redis, [telegram] limits and agents_chat_id, [handoff]); the host reads the token and
the Bot API server from it too, for brevity.
"""

from __future__ import annotations

import asyncio
import logging

from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.config import Settings, load_settings
from bot.telegram.embed import SellerbotRouter, aiogram_router

WEATHER = "Shenzhen: sunny, 25°C"
REFRESHED = "Still sunny."
# The host's own buttons carry callback data of its own; sellerbot only takes "b:…".
REFRESH = "weather:refresh"


def weather_router() -> Router:
    """The host's own work."""
    router = Router(name="weather")

    @router.message(Command("weather"))
    async def weather(message: Message) -> None:
        refresh = InlineKeyboardButton(text="Refresh", callback_data=REFRESH)
        await message.answer(WEATHER, reply_markup=InlineKeyboardMarkup(inline_keyboard=[[refresh]]))

    @router.callback_query(F.data == REFRESH)
    async def refreshed(query: CallbackQuery) -> None:
        await query.answer(REFRESHED)

    return router


def build(settings: Settings) -> tuple[Bot, Dispatcher, SellerbotRouter]:
    """The host's bot and dispatcher, with sellerbot's router after the host's own."""
    telegram = settings.telegram
    session = AiohttpSession(api=TelegramAPIServer.from_base(telegram.api_base_url))
    bot = Bot(telegram.token.get_secret_value(), session=session)
    dispatcher = Dispatcher()
    sellerbot = aiogram_router(settings)
    dispatcher.include_routers(weather_router(), sellerbot)
    return bot, dispatcher, sellerbot


async def main() -> None:
    logging.basicConfig(level=logging.INFO)
    bot, dispatcher, _ = build(load_settings())
    # start_polling asks Telegram for the update types the routers handle (sellerbot's router
    # handles messages, edited messages and callback queries) and starts and stops sellerbot.
    await dispatcher.start_polling(bot)


if __name__ == "__main__":
    asyncio.run(main())
