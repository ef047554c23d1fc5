"""Webhook mode: the secret-token header is checked, updates are stored and answered 200, a
lost answer makes Telegram post the update again and it still takes effect once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import ClientSession
from sqlalchemy import func, select

from bot.telegram.runtime import TelegramRuntime, start_telegram
from bot.telegram.webhook import derived_secret
from handlers import replies
from services.models import InboundUpdate
from tests.telegram.conftest import FAST_LIMITS, telegram_settings
from tests.telegram.fake_api import FakeBotAPI
from tests.telegram.harness import Harness

PUBLIC_URL = "https://bot.example.com/telegram/webhook"


@pytest.fixture
async def hooked(fake: FakeBotAPI, data_dir: Path) -> AsyncIterator[TelegramRuntime]:
    settings = telegram_settings(data_dir, fake, webhook_url=PUBLIC_URL, listen_port=0, **FAST_LIMITS)
    runtime = await start_telegram(settings, webhook=True)
    # Telegram posts to the public URL; the reverse proxy forwards it here.
    fake.webhook_targets = [f"http://127.0.0.1:{runtime.port}/telegram/webhook"]
    try:
        yield runtime
    finally:
        await runtime.stop()


async def test_the_webhook_is_registered_with_its_secret_and_serves_the_chat(
    fake: FakeBotAPI, hooked: TelegramRuntime
) -> None:
    assert fake.webhook is not None
    assert fake.webhook["url"] == PUBLIC_URL
    assert fake.webhook["secret_token"] == derived_secret(fake.token)
    assert fake.webhook["allowed_updates"] == ["message", "edited_message", "callback_query"]
    tg = Harness(fake, hooked)
    pia = tg.private(language="en")
    turn = await pia.send("/start")
    assert turn.texts[0].startswith("Hello!")
    turn = await pia.press("Payouts")
    assert turn.answer == {"text": None, "show_alert": False} and turn.messages
    assert {status for _, _, status in fake.webhook_posts} == {200}


async def test_requests_without_the_right_secret_are_refused(
    fake: FakeBotAPI, hooked: TelegramRuntime
) -> None:
    url = f"http://127.0.0.1:{hooked.port}/telegram/webhook"
    sender = {"id": 5, "is_bot": False, "first_name": "X"}
    message = {
        "message_id": 1,
        "date": 0,
        "chat": {"id": 5, "type": "private"},
        "from": sender,
        "text": "/start",
    }
    update = {"update_id": 1, "message": message}
    secret = derived_secret(fake.token)
    async with ClientSession() as http:
        for headers in (
            {},
            {"X-Telegram-Bot-Api-Secret-Token": "wrong"},
            {"X-Telegram-Bot-Api-Secret-Token": "é"},
        ):
            async with http.post(url, json=update, headers=headers) as response:
                assert response.status == 401
        async with http.post(
            url, data=b"{not json", headers={"X-Telegram-Bot-Api-Secret-Token": secret}
        ) as r:
            assert r.status == 400
        async with http.get(f"http://127.0.0.1:{hooked.port}/healthz") as r:
            assert r.status == 200
    async with hooked.app.database.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(InboundUpdate)) == 0


async def test_an_update_posted_again_after_a_lost_answer_takes_effect_once(
    fake: FakeBotAPI, hooked: TelegramRuntime
) -> None:
    tg = Harness(fake, hooked)
    qin = tg.private(language="en")
    fake.lose_webhook_answers(3)
    for text in ("/xone", "/xtwo", "/xthree"):
        await qin.send(text)
    await fake.wait_until(lambda: hooked.stats.duplicates == 3)
    from handlers.commands import COMMANDS

    assert [m.text for m in fake.sent(qin.chat.id)] == [
        replies.say("commands.unknown", "en", command=name, commands=COMMANDS)
        for name in ("xone", "xtwo", "xthree")
    ]
    posts = [update_id for update_id, _, _ in fake.webhook_posts]
    assert len(posts) == 6  # each update posted twice
