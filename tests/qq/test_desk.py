"""A QQ seller handed to a person reaches the agents' Telegram desk: the conversation gets its
topic with the context card, the seller's messages go there, an agent's answer in the topic goes
to QQ — and when the seller's reply window has closed, the agent is told in the topic that it
waits, and it goes with the seller's next message. Both runtimes share one database, as two
processes of one deployment would."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.qq.runtime import start_qq
from bot.telegram.runtime import start_telegram
from handlers import replies
from services.models import utcnow
from tests.qq.conftest import official_settings
from tests.qq.fake_official import FakeOfficialAPI
from tests.qq.harness import OfficialHarness
from tests.telegram.conftest import desk_settings
from tests.telegram.desk_harness import DeskHarness
from tests.telegram.fake_api import FakeBotAPI


def t(key: str, lang: str, **context: object) -> str:
    return replies.say(key, lang, **context)


@pytest.fixture
async def both(fake: FakeOfficialAPI, data_dir: Path) -> AsyncIterator[tuple[DeskHarness, OfficialHarness]]:
    telegram = FakeBotAPI()
    await telegram.start()
    forum = telegram.group("Seller support desk", forum=True)
    telegram.promote(forum, can_manage_topics=True, can_delete_messages=True, can_pin_messages=True)
    settings = desk_settings(data_dir, telegram, forum)
    settings.qq = official_settings(data_dir, fake).qq
    desk_runtime = await start_telegram(settings)
    qq_runtime: Any = None
    try:
        qq_runtime = await start_qq(settings, app=desk_runtime.app)
        fake.webhook_url = f"http://127.0.0.1:{qq_runtime.port}{settings.qq.webhook_path}"
        yield DeskHarness(telegram, desk_runtime, forum), OfficialHarness(fake, qq_runtime)
    finally:
        if qq_runtime is not None:
            await qq_runtime.stop()
        await desk_runtime.stop()
        await telegram.close()


async def test_a_qq_seller_and_an_agent_talk_through_a_telegram_topic(
    both: tuple[DeskHarness, OfficialHarness],
) -> None:
    desk, qq = both
    fake = qq.fake
    seller = qq.private("u-desk")
    turn = await seller.send("转人工")
    assert t("handoff.started", "zh") in turn.text
    conversation = await desk.conversation_id("qq", "u-desk")
    topic = await desk.topic_of(conversation)
    assert "QQ" in topic.messages[0].text or "qq" in topic.messages[0].text

    # the seller writes; it reaches the topic, and the bot is silent on QQ
    assert (await seller.send("我的店铺被封了怎么办")).texts == []
    await desk.relayed(conversation)
    assert t("desk.seller_says", "zh", text="我的店铺被封了怎么办") in topic.texts

    # the agent answers in the topic: it reaches the seller on QQ
    anna = desk.agent("Anna")
    await anna.send("您好,我来帮您查一下。", thread_id=topic.thread)
    await fake.wait_for(lambda: any(s.text == "您好,我来帮您查一下。" for s in fake.sent_to("u-desk")))

    # An hour later the seller's window has closed: the answer waits, and the topic says so.
    fake.advance(3700)
    qq.runtime.transport.clock = lambda: utcnow() + timedelta(seconds=3700)
    await anna.send("已经为您解封。", thread_id=topic.thread)
    waiting = t("desk.undelivered", "zh", failure="held", channel="QQ", text="已经为您解封。")
    await desk.until(lambda: waiting in topic.texts)
    assert not any(s.text == "已经为您解封。" for s in fake.sent_to("u-desk"))

    # the seller writes again: the answer goes with it
    kind, data = fake.message_event(group=None, user="u-desk", text="请问好了吗?")
    await qq.deliver(kind, data)
    await qq.handled(data["id"])
    await fake.wait_for(lambda: any(s.text == "已经为您解封。" for s in fake.sent_to("u-desk")))
    [answer] = [s for s in fake.sent_to("u-desk") if s.text == "已经为您解封。"]
    assert answer.reference == data["id"]
