"""The core itself: every turn logged, buttons with server-side meaning (pressed twice, expired,
made up), junk input, internal failures, a restart in the middle of a conversation, and two
messages of one conversation handled at once (on SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from handlers.core import MAX_TEXT_CHARS, ConversationCore
from services.models import Conversation, Store, Turn, TurnDirection
from tests.conversation import Bot, png, t

JUNK = ["", "   ", "😀😀😀", "👍", "x" * 5000, "{{7*7}}", "'; DROP TABLE accounts; --", "{% raw %}{{ x }}"]


async def test_every_turn_is_logged_with_what_was_understood(bot_any: Bot) -> None:
    bot = bot_any
    chat = bot.chat(lang="zh")
    await bot.seller(link=chat)
    await chat.send("佣金是多少?")
    await chat.send("what's the weather in Paris")
    await chat.send("/start open_store")
    await chat.send("Sunrise Gadgets")
    r = await chat.press("Electronics")  # the language followed the English question
    turns = await chat.turns()
    inbound = [turn for turn in turns if turn.direction is TurnDirection.IN]
    outbound = [turn for turn in turns if turn.direction is TurnDirection.OUT]
    fees, weather, start, title, press = inbound
    assert (fees.text, fees.language, fees.intent, fees.decision) == ("佣金是多少?", "zh", "fees", "answer")
    assert fees.score is not None and fees.score >= 0.5
    assert (weather.language, weather.intent, weather.decision) == ("en", "out_of_scope", "fallback")
    assert start.flow_step == "open_store.title" and start.intent is None
    assert title.text == "Sunrise Gadgets" and title.flow_step == "open_store.specialization"
    # a press is written as the label the seller saw, so an agent can read the transcript
    assert press.text == "[button: Electronics]" and press.flow_step == "open_store.icon"
    # every reply is in the transcript too, in order
    assert outbound[-1].text == r.texts[-1]
    assert [turn.text for turn in outbound[:1]] == [bot.knowledge.render("fees", "zh", bot.policy)]
    assert all(turn.created_at is not None for turn in turns)


@pytest.mark.parametrize("text", JUNK)
async def test_junk_outside_a_flow_gets_a_clear_answer_and_is_never_evaluated(bot: Bot, text: str) -> None:
    chat = bot.chat(lang="en")
    r = await chat.send(text)
    assert len(r.replies) >= 1
    assert not r.says("errors.internal", "en", reference="x") and "reference" not in r.text
    assert "49" not in r.text
    if len(text) > MAX_TEXT_CHARS:
        assert r.texts == [t("errors.too_long", "en", limit=MAX_TEXT_CHARS, length=len(text))]
    elif not text.strip() or text.startswith(("😀", "👍")):
        assert r.texts == [t("errors.empty", "en")]
    # the transcript keeps what was typed (long messages cut), as data
    [turn] = [turn for turn in await chat.turns() if turn.direction is TurnDirection.IN]
    assert turn.text == (text[:MAX_TEXT_CHARS] or "[empty]")


async def test_sql_in_a_message_is_only_text(bot: Bot) -> None:
    chat = bot.chat(lang="en")
    account = await bot.seller(link=chat, stores=1, store_limit=2)
    await chat.send("'; DROP TABLE accounts; --")
    await chat.send("/start open_store")
    await chat.send("x'); DROP TABLE stores; --")
    await chat.press("Electronics")
    await chat.press("Skip for now")
    r = await chat.press("Confirm")
    assert "x'); DROP TABLE stores; --" in r.text
    titles = [s.title for s in await bot.rows(Store, Store.account_id == account.id)]
    assert titles == ["Store 1", "x'); DROP TABLE stores; --"]


async def test_a_button_pressed_twice_is_done_once(bot: Bot) -> None:
    chat = bot.chat(lang="en")
    await chat.send("/help")
    fees = chat.last.button(bot.knowledge.intents["fees"].title["en"])
    r = await chat.press_button(fees)
    assert r.texts == [bot.knowledge.render("fees", "en", bot.policy)]
    r = await chat.press_button(fees)
    assert r.texts == [t("buttons.already_pressed", "en")]
    # pressing one button of a message retires its siblings too
    payouts = [b for b in chat.history[0].buttons if b.label == bot.knowledge.intents["payouts"].title["en"]]
    r = await chat.press_button(payouts[0])
    assert r.texts == [t("buttons.already_pressed", "en")]


async def test_old_and_made_up_buttons_change_nothing(bot: Bot) -> None:
    chat = bot.chat(lang="en")
    await bot.seller(link=chat)
    await chat.send("/help")
    old = chat.last.buttons[0]
    for _ in range(4):  # four newer messages with buttons
        await chat.send("/lang")
    r = await chat.press_button(old)
    assert r.texts == [t("buttons.expired", "en")]
    await chat.send("/start open_store")
    for made_up in ("zzz", "", "0" * 200, "{{7*7}}", "'; DROP TABLE conversations; --"):
        r = await chat.press_id(made_up)
        assert r.texts == [
            t("buttons.expired", "en"),
            t("flows.resume", "en"),
            t("open_store.ask_title", "en", min=2, max=50),
        ], made_up
    assert await chat.asked() == [t("open_store.ask_title", "en", min=2, max=50)]


async def test_a_file_where_none_is_expected(bot: Bot) -> None:
    chat = bot.chat(lang="zh")
    r = await chat.upload("logo.png", png(600, 600))
    assert r.texts == [t("files.unexpected_no_flow", "zh")]
    await bot.seller(link=chat)
    await chat.send("/start open_store")
    r = await chat.upload("logo.png", png(600, 600))
    assert r.texts == [t("files.unexpected", "zh"), t("open_store.ask_title", "zh", min=2, max=50)]
    assert await chat.asked() == [t("open_store.ask_title", "zh", min=2, max=50)]


async def test_an_internal_failure_gets_an_apology_with_a_reference(
    bot: Bot, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    chat = bot.chat(lang="en")
    await chat.send("/help")

    def broken(text: str, default_lang: str = "zh"):
        raise RuntimeError("matcher exploded")

    monkeypatch.setattr(bot.matcher, "match", broken)
    with caplog.at_level(logging.ERROR, logger="handlers.core"):
        r = await chat.send("What is the commission?")
    [reply] = r.replies
    reference = reply.text.rsplit(" ", 1)[-1].rstrip(".")
    assert reply.text == t("errors.internal", "en", reference=reference)
    assert "Traceback" not in reply.text and "exploded" not in reply.text
    assert reference in caplog.text and "matcher exploded" in caplog.text
    monkeypatch.undo()
    r = await chat.send("What is the commission?")
    assert r.texts == [bot.knowledge.render("fees", "en", bot.policy)]


async def test_a_restart_in_the_middle_of_a_conversation_goes_on(bot_any: Bot) -> None:
    bot = bot_any
    chat = bot.chat(lang="en")
    await chat.send("what's the weather in Paris")
    await chat.send("/lang")
    lang_buttons = chat.last.buttons
    await bot.restart()
    # the miss count, the language and the live buttons are in the database
    r = await chat.send("write me a poem")
    assert r.says("understanding.offer_agent", "en")
    r = await chat.press_button(lang_buttons[0])
    assert r.texts == [t("commands.lang_set", "zh")]
    r = await chat.press_button(lang_buttons[1])
    assert r.texts == [t("buttons.already_pressed", "zh")]


async def test_a_second_bot_process_serves_the_same_conversation(bot: Bot) -> None:
    chat = bot.chat(lang="en")
    account = await bot.seller(link=chat)
    await chat.send("/start open_store")
    other = bot.new_core()
    inbound = chat.inbound(text="Sunrise Gadgets")
    replies = await other.handle(inbound)
    assert replies[0].text == t("open_store.ask_specialization", "en")
    # the first process sees the second one's step
    r = await chat.press_button(replies[0].buttons[2])
    assert r.says("open_store.ask_icon", "en", min=550, max_mb="5")
    assert (await chat.conversation()).state["data"]["title"] == "Sunrise Gadgets"
    assert account.id


def held_at_the_first_save(cores: list[ConversationCore]) -> None:
    """Make each core's first turn wait, after deciding its replies and before saving, until the
    other core has decided too: both start from the same version of the conversation."""
    barrier = asyncio.Barrier(len(cores))
    for core in cores:
        real = core._dispatch
        waited: list[bool] = []

        async def dispatch(ctx, real=real, waited=waited) -> None:
            await real(ctx)
            if not waited:
                waited.append(True)
                await barrier.wait()

        core._dispatch = dispatch  # type: ignore[method-assign]


async def test_two_messages_at_once_lose_no_update(bot_any: Bot, caplog: pytest.LogCaptureFixture) -> None:
    bot = bot_any
    chat = bot.chat(lang="en")
    await chat.send("/help")  # the conversation exists
    cores = [bot.new_core(), bot.new_core()]
    held_at_the_first_save(cores)
    with caplog.at_level(logging.INFO, logger="handlers.core"):
        first, second = await asyncio.gather(
            cores[0].handle(chat.inbound(text="what's the weather in Paris")),
            cores[1].handle(chat.inbound(text="write me a poem")),
        )
    assert "changed concurrently, retrying" in caplog.text
    texts = sorted([first[0].text, second[0].text])
    # both misses counted: one got the topics, the other the offer of a person
    assert texts == sorted([t("understanding.fallback", "en"), t("understanding.offer_agent", "en")])
    row = await chat.conversation()
    assert row.state["misses"] == 2
    inbound = [turn.text for turn in await chat.turns() if turn.direction is TurnDirection.IN]
    assert sorted(inbound[1:]) == ["what's the weather in Paris", "write me a poem"]


async def test_two_first_messages_at_once_make_one_conversation(bot_any: Bot) -> None:
    bot = bot_any
    chat = bot.chat(lang="en")
    cores = [bot.new_core(), bot.new_core()]
    held_at_the_first_save(cores)
    first, second = await asyncio.gather(
        cores[0].handle(chat.inbound(text="/lang zh")),
        cores[1].handle(chat.inbound(text="what's the weather in Paris")),
    )
    assert first and second
    [row] = await bot.rows(Conversation)
    # neither change was lost: the language chosen and the miss counted
    assert row.language in {"zh", "en"} and row.state["lang_chosen"] is True and row.state["misses"] == 1
    assert await bot.count(Turn, Turn.direction == TurnDirection.IN) == 2


async def test_conversations_are_kept_apart_by_channel_chat_thread_and_user(bot: Bot) -> None:
    from dataclasses import replace

    chat = bot.chat("u1", lang="en")
    await bot.seller(link=chat)
    await chat.send("/start open_store")
    # the same user in another thread of the chat (a forum topic), and on another channel
    other_thread = replace(chat.inbound(text="what's the weather in Paris"), thread_id="topic-7")
    [reply] = await bot.core.handle(other_thread)
    assert reply.text == t("understanding.fallback", "en")
    other_channel = replace(chat.inbound(text="what's the weather in Paris"), channel="telegram")
    [reply] = await bot.core.handle(other_channel)
    assert reply.text == t("understanding.fallback", "en")  # a first miss there too
    assert await chat.asked() == [t("open_store.ask_title", "en", min=2, max=50)]
    keys = {(c.channel, c.chat_id, c.thread_id, c.user_id) for c in await bot.rows(Conversation)}
    assert keys == {
        ("console", "u1", "", "u1"),
        ("console", "u1", "topic-7", "u1"),
        ("telegram", "u1", "", "u1"),
    }


def test_the_stored_state_has_every_field_of_the_state() -> None:
    # (to_json is written out by hand for speed: a field added to the state must be added there)
    from dataclasses import fields

    from handlers.state import ConversationState

    state = ConversationState(lang="en")
    assert set(state.to_json()) == {f.name for f in fields(state)} - {"lang", "flow", "step"}
