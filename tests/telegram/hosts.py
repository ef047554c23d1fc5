"""Sellerbot three ways, for the conformance suite: its standalone runtime; its aiogram router in a
host's `Dispatcher`; its python-telegram-bot handler in a host's `Application`. Each host bot also
has a command of its own (`/weather`) and buttons of its own (callback data `host:…`), answered
by the host, never by sellerbot. All three talk to the fake Bot API server.

    async with serving(way, settings, fake) as served:
        served.service          # sellerbot's running service (what the harness waits on)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message
from telegram import Update
from telegram.ext import ApplicationBuilder, CallbackQueryHandler, CommandHandler, ContextTypes

from bot.config import Settings
from bot.telegram.embed import aiogram_router
from bot.telegram.processor import ALLOWED_UPDATES
from bot.telegram.ptb import install
from bot.telegram.runtime import start_telegram
from bot.telegram.service import TelegramService
from tests.telegram.fake_api import FakeBotAPI

WAYS = ("standalone", "aiogram_router", "ptb")
WEATHER = "Sunny in Shenzhen, 25°C"
HOST_PRESSED = "the host's own button"
START_GUARD_SECONDS = 60.0


@dataclass
class Served:
    way: str
    service: TelegramService

    @property
    def has_host(self) -> bool:
        return self.way != "standalone"


@asynccontextmanager
async def serving(way: str, settings: Settings, fake: FakeBotAPI) -> AsyncIterator[Served]:
    if way == "standalone":
        runtime = await start_telegram(settings)
        try:
            yield Served(way, runtime)
        finally:
            await runtime.stop()
    elif way == "aiogram_router":
        async with _aiogram_host(settings, fake) as service:
            yield Served(way, service)
    elif way == "ptb":
        async with _ptb_host(settings, fake) as service:
            yield Served(way, service)
    else:
        raise ValueError(way)


@asynccontextmanager
async def _aiogram_host(settings: Settings, fake: FakeBotAPI) -> AsyncIterator[TelegramService]:
    host = Router(name="host")

    @host.message(Command("weather"))
    async def weather(message: Message) -> None:
        await message.answer(WEATHER)

    @host.callback_query(F.data.startswith("host:"))
    async def host_button(query: CallbackQuery) -> None:
        await query.answer(HOST_PRESSED)

    started = asyncio.Event()
    last = Router(name="after-sellerbot")

    async def on_startup() -> None:
        started.set()

    last.startup.register(on_startup)
    sellerbot = aiogram_router(settings)
    dispatcher = Dispatcher()
    dispatcher.include_routers(host, sellerbot, last)
    bot = Bot(fake.token, session=AiohttpSession(api=TelegramAPIServer.from_base(fake.url)))
    polling = asyncio.create_task(dispatcher.start_polling(bot, handle_signals=False, polling_timeout=5))
    try:
        async with asyncio.timeout(START_GUARD_SECONDS):
            ready = asyncio.create_task(started.wait())
            await asyncio.wait([ready, polling], return_when=asyncio.FIRST_COMPLETED)
            ready.cancel()
        if polling.done():
            polling.result()  # start-up failed: its error
        assert sellerbot.service is not None
        yield sellerbot.service
    finally:
        if not polling.done():
            await dispatcher.stop_polling()
        await asyncio.gather(polling, return_exceptions=True)
        await bot.session.close()


@asynccontextmanager
async def _ptb_host(settings: Settings, fake: FakeBotAPI) -> AsyncIterator[TelegramService]:
    async def weather(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(WEATHER)

    async def host_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.callback_query is not None
        await update.callback_query.answer(HOST_PRESSED)

    application = (
        ApplicationBuilder()
        .token(fake.token)
        .base_url(f"{fake.url}/bot")
        .base_file_url(f"{fake.url}/file/bot")
        # A host that handles updates side by side: sellerbot's order must not depend on it.
        .concurrent_updates(True)
        .build()
    )
    application.add_handler(CommandHandler("weather", weather))
    application.add_handler(CallbackQueryHandler(host_button, pattern="^host:"))
    sellerbot = install(application, settings)
    # The lifecycle a host drives itself (run_polling would call start and stop through
    # post_init and post_stop).
    await application.initialize()
    try:
        async with sellerbot:
            await application.start()
            assert application.updater is not None
            await application.updater.start_polling(timeout=5, allowed_updates=ALLOWED_UPDATES)
            try:
                assert sellerbot.service is not None
                yield sellerbot.service
            finally:
                await application.updater.stop()
                await application.stop()
    finally:
        await application.shutdown()
