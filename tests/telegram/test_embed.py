"""What a host's own settings must not change: python-telegram-bot's `run_polling` starting and
stopping sellerbot (post_init, post_stop), a host's `Defaults(block=False, parse_mode=…)` and
`arbitrary_callback_data`, an aiogram host's default parse mode, and an aiogram host that starts
its dispatcher without the bot."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from pathlib import Path

import pytest
from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from telegram import error
from telegram.ext import ApplicationBuilder, Defaults

from bot.telegram import api
from bot.telegram.embed import aiogram_router
from bot.telegram.processor import ALLOWED_UPDATES
from bot.telegram.ptb import install, layer_error
from examples import aiogram_host, ptb_host
from handlers import replies
from tests.telegram.conftest import FAST_LIMITS, telegram_settings
from tests.telegram.fake_api import FakeBotAPI
from tests.telegram.harness import Harness
from tests.telegram.hosts import aiogram_running, ptb_running


def bot_texts(fake: FakeBotAPI, chat_id: int) -> list[str]:
    return [m.text or "" for m in fake.sent(chat_id)]


async def test_run_polling_starts_and_stops_sellerbot_with_the_host(fake: FakeBotAPI, data_dir: Path) -> None:
    application, sellerbot = ptb_host.build(telegram_settings(data_dir, fake, **FAST_LIMITS))
    loop = asyncio.new_event_loop()

    def host() -> None:
        asyncio.set_event_loop(loop)  # run_polling takes the thread's loop
        application.run_polling(allowed_updates=ALLOWED_UPDATES, stop_signals=None, close_loop=False)

    thread = threading.Thread(target=host, name="ptb-host")
    thread.start()
    try:
        user = fake.user("Seller", language_code="en")
        chat = fake.private_chat(user)
        fake.send(chat, user, "/weather")
        fake.send(chat, user, "/help")
        await fake.wait_until(
            lambda: any(t.startswith("Here is what I can help with") for t in bot_texts(fake, chat.id))
        )
        assert bot_texts(fake, chat.id)[0] == ptb_host.WEATHER
        assert sellerbot.service is not None
    finally:
        loop.call_soon_threadsafe(application.stop_running)
        await asyncio.to_thread(thread.join)
        loop.close()
    assert sellerbot.service is None  # post_stop stopped it


async def test_a_ptb_hosts_defaults_and_arbitrary_callback_data_leave_sellerbot_as_it_is(
    fake: FakeBotAPI, data_dir: Path
) -> None:
    settings = telegram_settings(data_dir, fake, **FAST_LIMITS)
    application = (
        ApplicationBuilder()
        .token(fake.token)
        .base_url(f"{fake.url}/bot")
        .base_file_url(f"{fake.url}/file/bot")
        .defaults(Defaults(block=False, parse_mode="HTML"))
        .arbitrary_callback_data(True)
        .build()
    )
    sellerbot = install(application, settings)
    assert sellerbot.handler.block is True  # not the host's default
    async with ptb_running(application, sellerbot) as service:
        tg = Harness(fake, service)
        alice = tg.private(language="en")
        menu = (await alice.send("/start")).last
        turn = await alice.press("Fees and commission")
        assert "commission" in turn.text
        assert menu.text.endswith(replies.say("channel.chosen", "en", label="Fees and commission"))


async def test_an_aiogram_hosts_default_parse_mode_leaves_sellerbots_text_plain(
    fake: FakeBotAPI, data_dir: Path
) -> None:
    settings = telegram_settings(data_dir, fake, **FAST_LIMITS)
    bot, dispatcher, sellerbot = aiogram_host.build(settings)
    host_bot = Bot(fake.token, session=bot.session, default=DefaultBotProperties(parse_mode="HTML"))
    async with aiogram_running(host_bot, dispatcher, sellerbot) as service:
        tg = Harness(fake, service)
        # The fake refuses a parse mode: sellerbot's answer must go without one.
        turn = await tg.private(language="en").send("<b>commission</b>?")
        assert "commission" in turn.text
        assert all("parse_mode" not in params for params in fake.calls_of("sendMessage"))


async def test_an_aiogram_host_without_the_bot_at_startup_is_told_what_to_pass(
    fake: FakeBotAPI, data_dir: Path
) -> None:
    dispatcher = Dispatcher()
    dispatcher.include_router(aiogram_router(telegram_settings(data_dir, fake)))
    with pytest.raises(RuntimeError, match="bot=bot"):
        await dispatcher.emit_startup()


@pytest.mark.parametrize("timedelta_mode", ["0", "1"])
def test_retry_after_is_read_as_seconds_whether_an_int_or_a_timedelta(
    timedelta_mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # python-telegram-bot 22 gives `retry_after` as an int, or as a timedelta with PTB_TIMEDELTA.
    monkeypatch.setenv("PTB_TIMEDELTA", timedelta_mode)
    exc = error.RetryAfter(dt.timedelta(seconds=3))
    assert isinstance(exc.retry_after, dt.timedelta if timedelta_mode == "1" else int)
    told = layer_error("sendMessage", exc)
    assert isinstance(told, api.RetryAfter) and told.seconds == 3.0
