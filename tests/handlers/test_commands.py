"""Commands: /start (with and without a deep-link payload), /help, /lang, /cancel, /link, /stores,
/limits, /agent, an unknown command, and commands carrying a bot's name."""

from __future__ import annotations

import pytest

from handlers.commands import COMMANDS, parse_command
from handlers.understanding import MENU_INTENTS
from services.models import Handoff
from tests.conversation import Bot, t

LANGS = ["zh", "en"]


def menu(bot: Bot, lang: str) -> list[str]:
    return [bot.knowledge.intents[i].title[lang] for i in MENU_INTENTS]


@pytest.mark.parametrize("lang", LANGS)
async def test_start_greets_with_the_topic_menu(bot: Bot, lang: str) -> None:
    r = await bot.chat(lang=lang).send("/start")
    assert r.texts == [t("menu.welcome", lang)]
    assert r.labels == menu(bot, lang)


@pytest.mark.parametrize("lang", LANGS)
async def test_start_with_a_payload_opens_that_flow(bot: Bot, lang: str) -> None:
    chat = bot.chat(lang=lang)
    await bot.seller(link=chat, stores=1)
    r = await chat.send("/start stores")
    assert "Store 1" in r.text
    r = await chat.send("/start pickup")
    assert r.says("pickup.ask_city", lang, cities=["Shenzhen"])
    assert await chat.asked() == [t("pickup.ask_city", lang, cities=["Shenzhen"])]
    # a payload carries the language of the chat it comes from
    other = "en" if lang == "zh" else "zh"
    r = await chat.send(f"/start quota-{other}")
    assert r.says("quota.ask_kind", other)
    assert (await chat.conversation()).language == other


async def test_start_with_an_unknown_payload_just_greets(bot: Bot) -> None:
    chat = bot.chat(lang="en")
    r = await chat.send("/start nonsense-payload")
    assert r.says("menu.welcome", "en")
    r = await chat.send("/start {{7*7}}")
    assert r.says("menu.welcome", "en") and "49" not in r.text


async def test_start_leaves_a_flow_in_progress(bot: Bot) -> None:
    chat = bot.chat(lang="en")
    await bot.seller(link=chat)
    await chat.send("/start open_store")
    r = await chat.send("/start")
    assert r.says("menu.welcome", "en")
    assert await chat.asked() == []


@pytest.mark.parametrize("lang", LANGS)
async def test_help_shows_the_commands_and_topics(bot: Bot, lang: str) -> None:
    r = await bot.chat(lang=lang).send("/help")
    assert r.texts == [t("menu.help", lang)]
    assert "/agent" in r.text and "/lang" in r.text
    assert r.labels == menu(bot, lang)


async def test_help_in_a_flow_shows_the_menu_and_goes_on_with_the_flow(bot: Bot) -> None:
    chat = bot.chat(lang="en")
    await bot.seller(link=chat)
    await chat.send("/start open_store")
    r = await chat.send("/help")
    assert r.texts == [
        t("menu.help", "en"),
        t("flows.resume", "en"),
        t("open_store.ask_title", "en", min=2, max=50),
    ]
    assert await chat.asked() == [t("open_store.ask_title", "en", min=2, max=50)]


@pytest.mark.parametrize(
    ("argument", "lang"), [("en", "en"), ("zh", "zh"), ("English", "en"), ("中文", "zh")]
)
async def test_lang_with_an_argument_switches_the_language(bot: Bot, argument: str, lang: str) -> None:
    chat = bot.chat(lang="zh" if lang == "en" else "en")
    r = await chat.send(f"/lang {argument}")
    assert r.texts == [t("commands.lang_set", lang)]
    r = await chat.send("/help")
    assert r.says("menu.help", lang)


async def test_a_chosen_language_is_kept_whatever_the_seller_writes_in(bot: Bot) -> None:
    chat = bot.chat(lang="zh")
    r = await chat.send("佣金是多少")  # no choice yet: replies follow the question's language
    assert r.texts == [bot.knowledge.render("fees", "zh", bot.policy)]
    await chat.send("/lang en")
    r = await chat.send("佣金是多少")
    assert r.texts == [bot.knowledge.render("fees", "en", bot.policy)]
    await chat.send("/lang zh")
    r = await chat.send("what is the commission")
    assert r.texts == [bot.knowledge.render("fees", "zh", bot.policy)]


async def test_lang_without_an_argument_offers_buttons(bot: Bot) -> None:
    chat = bot.chat(lang="zh")
    for text in ("/lang", "/lang klingon"):
        r = await chat.send(text)
        assert r.texts == [t("commands.lang_choose", "zh")]
        assert r.labels == ["中文", "English"]
    r = await chat.press("English")
    assert r.texts == ["OK, I'll reply in English."]
    row = await chat.conversation()
    assert row.language == "en" and row.state["lang_chosen"] is True


@pytest.mark.parametrize("lang", LANGS)
async def test_cancel_with_nothing_to_cancel(bot: Bot, lang: str) -> None:
    r = await bot.chat(lang=lang).send("/cancel")
    assert r.texts == [t("commands.nothing_to_cancel", lang)]


@pytest.mark.parametrize("lang", LANGS)
async def test_link_asks_for_the_registered_address(bot: Bot, lang: str) -> None:
    chat = bot.chat(lang=lang)
    r = await chat.send("/link")
    assert r.texts == [t("link.intro", lang), t("link.ask_email", lang)]
    assert await chat.asked() == [t("link.ask_email", lang)]


@pytest.mark.parametrize("command", ["/stores", "/limits"])
async def test_account_commands_link_first_then_answer(bot: Bot, command: str) -> None:
    chat = bot.chat(lang="en")
    r = await chat.send(command)
    action = t(f"actions.{command[1:]}", "en")
    assert r.texts == [t("link.intro_for", "en", action=action), t("link.ask_email", "en")]
    assert (await chat.conversation()).state["resume_flow"] == command[1:]


@pytest.mark.parametrize("lang", LANGS)
async def test_agent_hands_off(bot: Bot, lang: str) -> None:
    chat = bot.chat(lang=lang)
    r = await chat.send("/agent")
    assert r.texts == [t("handoff.started", lang)]
    assert await bot.count(Handoff) == 1


@pytest.mark.parametrize("lang", LANGS)
async def test_an_unknown_command_lists_the_known_ones(bot: Bot, lang: str) -> None:
    r = await bot.chat(lang=lang).send("/frobnicate now")
    assert r.texts == [t("commands.unknown", lang, command="frobnicate", commands=COMMANDS)]
    assert "/frobnicate" in r.text and all(f"/{c}" in r.text for c in COMMANDS)


async def test_commands_addressed_to_this_bot_by_name(bot: Bot) -> None:
    chat = bot.chat(lang="en")
    r = await chat.send("/help@sellerbot")
    assert r.says("menu.help", "en")
    r = await chat.send("/HELP@SellerBot")
    assert r.says("menu.help", "en")


def test_parse_command() -> None:
    assert parse_command("/start open_store", bot_username="sellerbot") == ("start", "open_store")
    assert parse_command("  /Lang   en ", bot_username="sellerbot") == ("lang", "en")
    assert parse_command("/help@sellerbot", bot_username="sellerbot") == ("help", "")
    assert parse_command("/help@otherbot", bot_username="sellerbot") is None
    assert parse_command("help", bot_username="sellerbot") is None
    assert parse_command("/ help", bot_username="sellerbot") is None
    assert parse_command("/start a\nb", bot_username="sellerbot") == ("start", "a\nb")
