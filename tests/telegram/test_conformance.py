"""One suite, three ways (`tests/telegram/hosts.py`): sellerbot's standalone runtime, its aiogram
router inside a host's `Dispatcher`, and its python-telegram-bot handler inside a host's
`Application` — all against the fake Bot API server. Each way must give a seller the same
answers: FAQ in a private chat and in a group, the open-store flow with an icon, a button pressed
twice, a handoff to the agents' desk and back, a 429 obeyed, a redelivered update taking effect
once. Inside a host, the host's own command and buttons stay the host's, and sellerbot stores
nothing that is not its own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from examples.aiogram_host import REFRESH, REFRESHED, WEATHER
from services.models import InboundUpdate, Store
from tests.telegram.conftest import FAST_LIMITS, desk_settings, telegram_settings
from tests.telegram.desk_harness import DeskHarness, is_card
from tests.telegram.fake_api import FakeBotAPI, Message
from tests.telegram.harness import Harness, png, t
from tests.telegram.hosts import WAYS, Served, serving


@pytest.fixture(params=WAYS)
async def served(request: Any, fake: FakeBotAPI, data_dir: Path) -> AsyncIterator[Served]:
    async with serving(request.param, telegram_settings(data_dir, fake, **FAST_LIMITS), fake) as way:
        yield way


@pytest.fixture
def tg(fake: FakeBotAPI, served: Served) -> Harness:
    return Harness(fake, served.service)


@pytest.fixture(params=WAYS)
async def desk(request: Any, fake: FakeBotAPI, data_dir: Path, forum: Any) -> AsyncIterator[DeskHarness]:
    async with serving(request.param, desk_settings(data_dir, fake, forum), fake) as way:
        yield DeskHarness(fake, way.service, forum)


async def stored(tg: Harness, update_id: int) -> bool:
    async with tg.sessions() as session:
        found = await session.scalar(
            select(func.count()).select_from(InboundUpdate).where(InboundUpdate.update_id == update_id)
        )
    return bool(found)


async def test_faq_in_a_private_chat_and_in_a_group(tg: Harness) -> None:
    alice = tg.private(language="en")
    turn = await alice.send("how much is the commission?")
    assert "commission" in turn.text
    bot = tg.fake.username
    group = tg.fake.group()
    ann = tg.in_group(group, language="en")
    turn = await ann.send(f"@{bot} how much is the commission?")
    assert "commission" in turn.text
    assert all(m.reply_to == turn.asked.message_id for m in turn.messages)  # quoting the question


async def test_open_store_with_an_icon_sent_as_a_photo(tg: Harness) -> None:
    carol = tg.private(language="en")
    seller = await tg.seller(carol, store_limit=3)
    turn = await carol.send("/start open_store")
    assert t("open_store.intro", "en", free=3) in turn.texts
    turn = await carol.send("Carol Gadgets")
    electronics = "Electronics"  # the button; sentences say "electronics"
    assert electronics in turn.labels
    turn = await carol.press(electronics)
    assert turn.labels == [t("open_store.skip_icon", "en")]

    # A file of the wrong type at the icon step: explained, nothing changes, the step is asked again.
    turn = await carol.document(b"%PDF-1.4 not an image", name="logo.pdf", mime_type="application/pdf")
    assert turn.labels == [t("open_store.skip_icon", "en")]
    assert "Icon accepted" not in turn.text

    turn = await carol.photo(png(600, 600))
    assert t("open_store.icon_ok", "en", format="PNG", width=600, height=600) in turn.texts
    assert t("actions.confirm", "en") in turn.labels
    turn = await carol.press(t("actions.confirm", "en"))
    assert "Carol Gadgets" in turn.text and "is open" in turn.text
    async with tg.sessions() as session:
        stores = (await session.execute(select(Store).where(Store.account_id == seller.id))).scalars().all()
    assert [s.title for s in stores] == ["Carol Gadgets"]


async def test_menu_topic_button_is_answered_and_marked_and_a_second_click_changes_nothing(
    tg: Harness,
) -> None:
    alice = tg.private(language="en")
    turn = await alice.send("/start")
    assert turn.texts[0].startswith("Hello! I'm the Joom seller assistant")
    menu = turn.last
    assert "Fees and commission" in menu.labels
    assert all(b["callback_data"].startswith("b:") and len(b["callback_data"]) <= 64 for b in menu.buttons)

    turn = await alice.press("Fees and commission")
    assert turn.answer == {"text": None, "show_alert": False}  # the spinner stops
    assert "commission" in turn.text
    # The pressed message: keyboard removed, the chosen option marked under the text.
    assert menu.buttons == []
    assert menu.text.endswith(t("channel.chosen", "en", label="Fees and commission"))
    assert len(menu.edits) == 1

    # A second click (a double tap that raced the edit) is told so, and edits nothing.
    data = menu.edits[0]["reply_markup"]["inline_keyboard"][3][0]["callback_data"]
    again = await alice.press_data(menu, data)
    assert again.texts == [t("buttons.already_pressed", "en")]
    assert again.answer == {"text": None, "show_alert": False}
    assert len(menu.edits) == 1


async def test_a_handoff_to_the_desk_and_back(desk: DeskHarness) -> None:
    seller = desk.private(language="zh", name="Li Lei")
    await desk.seller(seller, store_limit=3)
    turn = await seller.send("转人工")
    assert turn.texts == [t("handoff.started", "zh")]
    topic = await desk.topic_for(seller)
    assert is_card(topic.messages[0])
    assert (await seller.send("我的店铺被封了,怎么办?")).messages == []
    conversation = await desk.conversation_id("telegram", str(seller.user.id))
    await desk.relayed(conversation)
    assert t("desk.seller_says", "zh", text="我的店铺被封了,怎么办?") in topic.texts
    # A photo goes into the topic as an upload of its bytes (multipart).
    picture = png(64, 64)
    await seller.photo(picture, caption="截图")
    await desk.until(lambda: any(m.photo for m in topic.messages))
    relayed = next(m for m in topic.messages if m.photo)
    assert relayed.document is not None and relayed.document[1] == picture
    anna = desk.agent("Anna")
    assert (await anna.send("您好,我查一下。", thread_id=topic.thread)).messages == []
    await desk.seller_gets(seller, "您好,我查一下。")
    await anna.send("/close", thread_id=topic.thread)
    await desk.until(lambda: topic.closed)
    question = await desk.seller_gets(seller, t("handoff.rate", "zh"))
    rated = await seller.press(t("handoff.rate_label", "zh", stars=5), question)
    assert rated.texts == [t("handoff.rated", "zh", stars=5)]
    await desk.until(lambda: t("desk.rated", "zh", stars=5) in topic.texts)
    assert "佣金" in (await seller.send("佣金是多少?")).text  # the bot answers again


async def test_429_is_obeyed_and_the_message_sent_afterwards(tg: Harness) -> None:
    ida = tg.private(language="en")
    tg.fake.fail("sendMessage", status=429, retry_after=1)
    turn = await ida.send("/help")
    assert turn.texts[0].startswith("Here is what I can help with")
    attempts = [(params, at) for name, params, at in tg.fake.calls if name == "sendMessage"]
    assert len(attempts) == 2 and attempts[0][0]["text"] == attempts[1][0]["text"]
    assert attempts[1][1] - attempts[0][1] >= 1.0 - 0.05  # retry_after obeyed
    assert len(tg.fake.sent(ida.chat.id)) == 1  # sent once, not dropped, not doubled


async def test_a_redelivered_update_takes_effect_once(tg: Harness) -> None:
    gil = tg.private(language="en")
    seller = await tg.seller(gil, store_limit=3)
    await gil.send("/start open_store")
    await gil.send("Gil Tools")
    await gil.press("Other")
    turn = await gil.press(t("open_store.skip_icon", "en"))
    confirm = await gil.press(t("actions.confirm", "en"), message=turn.last)
    assert "Gil Tools" in confirm.text

    # Telegram delivers the confirm press again (say, after a restart that did not confirm it).
    sent_before = len(tg.fake.sent(gil.chat.id))
    tg.fake.redeliver(confirm.update_id)
    await tg.fake.wait_until(lambda: tg.runtime.stats.duplicates == 1)
    # …and a message once more, then something new: only the new one is answered.
    tg.fake.redeliver(turn.update_id)
    await tg.fake.wait_until(lambda: tg.runtime.stats.duplicates == 2)
    fresh = await gil.send("/help")
    assert len(tg.fake.sent(gil.chat.id)) == sent_before + len(fresh.messages)
    async with tg.sessions() as session:
        stores = await session.scalar(
            select(func.count()).select_from(Store).where(Store.account_id == seller.id)
        )
    assert stores == 1


async def test_a_burst_in_many_chats_is_answered_in_each_chats_order(tg: Harness) -> None:
    """Updates that arrive together (one getUpdates batch) — handled side by side by a host that
    does so — still take effect in each chat's order."""
    chats = [tg.private(language="en") for _ in range(6)]
    update_ids = [
        tg.fake.send(chat.chat, chat.user, "/help" if round_ % 2 == 0 else "/lang")
        for round_ in range(6)
        for chat in chats
    ]
    for update_id in update_ids:
        await tg.handled(update_id)

    def kind(message: Message) -> str:
        if message.labels == ["中文", "English"]:
            return "lang"
        return "help" if (message.text or "").startswith("Here is what I can help with") else repr(message)

    for chat in chats:
        assert [kind(m) for m in tg.fake.sent(chat.chat.id)] == ["help", "lang"] * 3


async def test_what_is_not_sellerbots_is_left_alone(tg: Harness, served: Served) -> None:
    bot = tg.fake.username
    group = tg.fake.group()
    ann = tg.in_group(group, language="en")
    # Group chat not for the bot, and another bot's command; then a question for the bot (which
    # is handled after them, in the chat's order): only that one is answered.
    ignored = [
        tg.fake.send(group, ann.user, "how much is the commission?"),
        tg.fake.send(group, ann.user, "/help@other_bot"),
    ]
    turn = await ann.send(f"/help@{bot}")
    assert turn.texts[0].startswith("Here is what I can help with")
    assert {m.reply_to for m in tg.fake.sent(group.id)} == {turn.asked.message_id}
    if not served.has_host:
        return
    # Inside a host those were never even stored; the host's own command and buttons are the
    # host's, in the chats where sellerbot answers its own.
    assert not any([await stored(tg, update_id) for update_id in ignored])
    dan = tg.private(language="en")
    asked = tg.fake.send(dan.chat, dan.user, "/weather")
    await tg.fake.wait_until(lambda: WEATHER in [m.text for m in tg.fake.sent(dan.chat.id)])
    assert not await stored(tg, asked)
    forecast = next(m for m in tg.fake.sent(dan.chat.id) if m.text == WEATHER)
    pressed = tg.fake.press(dan.user, forecast, data=REFRESH)
    query = tg.fake.callback_queries_by_update[pressed]
    await tg.fake.wait_until(lambda: tg.fake.callback_queries[query].answered is not None)
    assert tg.fake.callback_queries[query].answered == {"text": REFRESHED, "show_alert": False}
    assert not await stored(tg, pressed)
    # Sellerbot answers its own in the same chat.
    assert (await dan.send("/start")).last.buttons
    assert [m.text for m in tg.fake.sent(dan.chat.id)].count(WEATHER) == 1
