"""Sellerbot three ways, for the conformance suite: its standalone runtime; the aiogram example host
(`examples/aiogram_host.py`: sellerbot's router in the host's `Dispatcher`); the
python-telegram-bot example host (`examples/ptb_host.py`: sellerbot's handler in the host's
`Application`, here handling updates side by side). Each host has a command of its own
(`/weather`) and a button of its own (`weather:refresh`), answered by the host, never by
sellerbot. All three talk to the fake Bot API server.

    async with serving(way, settings, fake) as served:
        served.service          # sellerbot's running service (what the harness waits on)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiogram import Bot, Dispatcher, Router

from bot.config import Settings
from bot.telegram.embed import SellerbotRouter
from bot.telegram.processor import ALLOWED_UPDATES
from bot.telegram.ptb import HostApplication, PtbSellerbot
from bot.telegram.runtime import start_telegram
from bot.telegram.service import TelegramService
from examples import aiogram_host, ptb_host
from tests.telegram.fake_api import FakeBotAPI

WAYS = ("standalone", "aiogram_router", "ptb")
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
        async with _aiogram_host(settings) as service:
            yield Served(way, service)
    elif way == "ptb":
        async with _ptb_host(settings) as service:
            yield Served(way, service)
    else:
        raise ValueError(way)


@asynccontextmanager
async def _aiogram_host(settings: Settings) -> AsyncIterator[TelegramService]:
    bot, dispatcher, sellerbot = aiogram_host.build(settings)
    async with aiogram_running(bot, dispatcher, sellerbot) as service:
        yield service


@asynccontextmanager
async def aiogram_running(
    bot: Bot, dispatcher: Dispatcher, sellerbot: SellerbotRouter
) -> AsyncIterator[TelegramService]:
    """The host's dispatcher polling, sellerbot started by its startup."""
    # A router after sellerbot's: its startup runs once sellerbot's has.
    started = asyncio.Event()
    last = Router(name="after-sellerbot")

    async def on_startup() -> None:
        started.set()

    last.startup.register(on_startup)
    dispatcher.include_router(last)
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
async def _ptb_host(settings: Settings) -> AsyncIterator[TelegramService]:
    # A host that handles updates side by side: sellerbot's order must not depend on it.
    application, sellerbot = ptb_host.build(settings, concurrent_updates=True)
    async with ptb_running(application, sellerbot) as service:
        yield service


@asynccontextmanager
async def ptb_running(
    application: HostApplication, sellerbot: PtbSellerbot
) -> AsyncIterator[TelegramService]:
    """The lifecycle a host drives itself (run_polling would start and stop sellerbot through
    post_init and post_stop; tests/telegram/test_embed.py runs that)."""
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
