"""Choices on a channel without buttons (QQ): the seller answers with the number of a choice last
shown, or with its label; a number beyond them is refused politely, an old one is refused as an
old button is, and a number that is an answer (a code, a count) stays an answer."""

from __future__ import annotations

import pytest

from handlers.handoff import close_as_agent, reply_as_agent
from services.models import Handoff
from tests.conversation import Bot, Chat, t

LANGS = ["zh", "en"]


async def menu(chat: Chat, lang: str):
    r = await chat.send("/help")
    assert len(r.labels) >= 3, r
    return r


@pytest.mark.parametrize("lang", LANGS)
async def test_a_number_picks_the_choice_shown_at_that_place(bot: Bot, lang: str) -> None:
    by_number = bot.chat("by-number", lang=lang, numbered=True)
    by_button = bot.chat("by-button", lang=lang)
    r = await menu(by_number, lang)
    await menu(by_button, lang)
    second = r.labels[1]
    picked = await by_number.send("2")
    pressed = await by_button.press(second)
    assert picked.texts == pressed.texts
    # the transcript shows the choice made, in the words the seller saw
    turns = await by_number.turns()
    assert any(second in (turn.text or "") for turn in turns)


@pytest.mark.parametrize("lang", LANGS)
async def test_the_label_picks_the_choice_too_and_full_width_digits_count(bot: Bot, lang: str) -> None:
    chat = bot.chat(lang=lang, numbered=True)
    r = await menu(chat, lang)
    third = r.labels[2]
    by_label = await chat.send(third.upper() if lang == "en" else third)
    reference = bot.chat("reference", lang=lang)
    await menu(reference, lang)
    assert by_label.texts == (await reference.press(third)).texts
    r = await menu(chat, lang)
    by_wide = await chat.send("３")  # a Chinese keyboard's full-width digit
    assert by_wide.texts == by_label.texts


@pytest.mark.parametrize("lang", LANGS)
async def test_a_number_beyond_the_choices_is_refused_with_the_choices_again(bot: Bot, lang: str) -> None:
    chat = bot.chat(lang=lang, numbered=True)
    r = await menu(chat, lang)
    count = len(r.labels)
    refused = await chat.send(str(count + 1))
    assert refused.texts[0] == t("choices.out_of_range", lang, count=count)
    assert refused.labels == r.labels
    # and the numbers still work afterwards
    after = await chat.send("1")
    reference = bot.chat("reference", lang=lang)
    await menu(reference, lang)
    assert after.texts == (await reference.press(r.labels[0])).texts


@pytest.mark.parametrize("lang", LANGS)
async def test_at_a_choice_step_a_wrong_number_asks_for_one_of_the_numbers(bot: Bot, lang: str) -> None:
    chat = bot.chat(lang=lang, numbered=True)
    await bot.seller(link=chat)
    r = await chat.send("/start quota")
    choices = r.labels
    r = await chat.send("9")
    assert t("flows.use_buttons", lang, numbered=True) in r.texts
    assert r.labels == choices
    assert r.texts[-1] == t("quota.ask_kind", lang)  # the question stands
    # what the words say on a channel with buttons is not what a numbered channel gets
    assert t("flows.use_buttons", lang) != t("flows.use_buttons", lang, numbered=True)


@pytest.mark.parametrize("lang", LANGS)
async def test_an_old_number_after_the_step_moved_on_changes_nothing(bot: Bot, lang: str) -> None:
    chat = bot.chat(lang=lang, numbered=True)
    await bot.seller(link=chat, stores=1, store_limit=1)
    r = await chat.send("/start quota")
    stores_choice = r.labels.index(t("quota.kind_store_quota", lang)) + 1
    summary = await chat.send(str(stores_choice))
    assert summary.labels, summary
    # a number from the list before, beyond the summary's choices
    r = await chat.send(str(len(summary.labels) + 3))
    assert t("flows.use_buttons", lang, numbered=True) in r.texts
    assert r.labels == summary.labels
    assert r.texts[-1] == summary.texts[-1]  # the summary stands


@pytest.mark.parametrize("lang", LANGS)
async def test_a_code_typed_at_a_text_step_is_an_answer_not_a_choice(bot: Bot, lang: str) -> None:
    chat = bot.chat(lang=lang, numbered=True)
    await bot.seller(email="owner@shop.example")
    await chat.send("/link")
    r = await chat.send("owner@shop.example")
    assert r.says("link.code_sent", lang, minutes=10, attempts=5)
    code = await bot.link_code("owner@shop.example")
    r = await chat.send(code)
    assert r.says("link.linked", lang)


async def test_a_number_in_a_group_is_read_with_the_mention(bot: Bot) -> None:
    member = bot.chat("member", group=True, lang="zh", numbered=True)
    r = await member.send("@sellerbot /help")
    assert r.labels
    picked = await member.send("@sellerbot 1")
    reference = bot.chat("reference", group=True, lang="zh")
    await reference.send("@sellerbot /help")
    assert picked.texts == (await reference.press(r.labels[0])).texts
    # a bare number nobody addressed to the bot is not for it
    assert not await member.send("1")


async def test_the_rating_after_a_handoff_is_given_by_number(bot: Bot) -> None:
    chat = bot.chat(lang="en", numbered=True)
    await chat.send("/agent")
    [handoff] = await bot.rows(Handoff)
    await reply_as_agent(sessions=bot.sessions, handoff_id=handoff.id, text="Done.", agent="anna")
    await close_as_agent(sessions=bot.sessions, handoff_id=handoff.id, agent="anna")
    r = await chat.send("5")
    assert r.says("handoff.rated", "en", stars=5)
    [rated] = await bot.rows(Handoff)
    assert rated.rating == 5
    # the thanks showed no choices: a second "5" is no longer a rating, and rates nothing again
    r = await chat.send("5")
    assert not r.says("handoff.rated", "en", stars=5)
    assert [h.rating for h in await bot.rows(Handoff)] == [5]


async def test_a_count_typed_at_a_step_that_takes_text_stays_a_count(bot: Bot) -> None:
    chat = bot.chat(lang="en", numbered=True)
    await bot.seller(link=chat)
    await chat.send("/start pickup")
    await chat.send("1")  # the first pickup city
    await chat.send("1 Keji Road, Nanshan")
    r = await chat.send("13800138000")
    assert r.texts == [t("pickup.ask_parcels", "en")]
    # a question meanwhile: its answer carries a button, and the step is asked again
    r = await chat.send("how do I reset my password?")
    assert r.labels and r.texts[-2:] == [t("flows.resume", "en"), t("pickup.ask_parcels", "en")]
    r = await chat.send("1")
    assert r.texts == [t("pickup.ask_date", "en", numbered=True)], r
