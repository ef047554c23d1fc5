"""Password reset: a linked seller gets the link at the registered address (shown masked); anyone
else types an address and gets the same answer whether or not it is registered; the link is in
the outbox mail; at most 3 links an hour; a repeated button, a restart, wrong answers, junk."""

from __future__ import annotations

import re

import pytest

from services.models import ResetToken
from tests.conversation import BASE_URL, Bot, png, t

LANGS = ["zh", "en"]
ASK = {"zh": "忘记密码了怎么办", "en": "I forgot my password"}


def sent(bot: Bot, lang: str) -> str:
    return t("reset.sent", lang, minutes=30, support_email=bot.policy.support_email)


async def links(bot: Bot, to: str) -> list[str]:
    return [
        re.search(rf"{re.escape(BASE_URL)}/reset-password\?token=\S+", m.get_content()).group(0)
        for m in await bot.mails(to)
    ]


@pytest.mark.parametrize("lang", LANGS)
async def test_a_linked_seller_gets_the_link_at_the_registered_address(bot: Bot, lang: str) -> None:
    chat = bot.chat(lang=lang)
    await bot.seller(email="owner@shop.example", link=chat)
    r = await chat.send(ASK[lang])
    assert r.texts == [bot.knowledge.render("password_reset", lang, bot.policy)]
    r = await chat.press(t("actions.password_reset", lang))
    assert r.texts == [t("reset.confirm_linked", lang, masked="o***@shop.example")]
    assert "owner@" not in r.text
    assert r.labels == [t("reset.send", lang), t("actions.cancel", lang)]
    r = await chat.press(t("reset.send", lang))
    assert r.texts == [
        t(
            "reset.sent_linked",
            lang,
            masked="o***@shop.example",
            minutes=30,
            support_email="merchant@joom.com",
        )
    ]
    assert "o***@shop.example" in r.text and "owner@" not in r.text
    [mail] = await bot.mails()
    assert mail["To"] == "owner@shop.example"
    assert ("重置" if lang == "zh" else "Reset the password") in mail["Subject"]
    assert len(await links(bot, "owner@shop.example")) == 1
    assert await bot.count(ResetToken) == 1 and await chat.asked() == []


@pytest.mark.parametrize("lang", LANGS)
async def test_registered_and_unknown_addresses_get_the_same_answer(bot: Bot, lang: str) -> None:
    await bot.seller(email="owner@shop.example")
    answers = []
    for user, address in (("a", "OWNER@shop.example"), ("b", "nobody@shop.example")):
        chat = bot.chat(user, lang=lang)
        r = await chat.send("/start password_reset")
        assert r.texts == [t("reset.ask_email", lang)]
        answers.append(await chat.send(address))
    assert answers[0].texts == answers[1].texts == [sent(bot, lang)]
    assert answers[0].labels == answers[1].labels == []
    # only the registered address gets mail, at the address on file
    assert [m["To"] for m in await bot.mails()] == ["owner@shop.example"]


@pytest.mark.parametrize("lang", LANGS)
async def test_at_most_three_links_an_hour_for_any_address(bot: Bot, lang: str) -> None:
    await bot.seller(email="owner@shop.example")
    answers = {}
    for address in ("owner@shop.example", "nobody@shop.example"):
        chat = bot.chat(address, lang=lang)
        for _ in range(3):
            await chat.send("/start password_reset")
            r = await chat.send(address)
            assert r.texts == [sent(bot, lang)]
        await chat.send("/start password_reset")
        answers[address] = await chat.send(address)
    limited = {
        "zh": "请求过于频繁:每小时最多3次。请60分钟后再试。",
        "en": "Too many requests: at most 3 per hour. Please try again in 60 minute(s).",
    }[lang]
    assert answers["owner@shop.example"].texts == answers["nobody@shop.example"].texts == [limited]
    assert len(await bot.mails("owner@shop.example")) == 3
    bot.clock.advance(minutes=61)
    chat = bot.chat("owner@shop.example", lang=lang)
    await chat.send("/start password_reset")
    r = await chat.send("owner@shop.example")
    assert r.texts == [sent(bot, lang)] and len(await bot.mails("owner@shop.example")) == 4


async def test_send_pressed_twice_mails_once(bot_any: Bot) -> None:
    bot = bot_any
    chat = bot.chat(lang="en")
    await bot.seller(email="owner@shop.example", link=chat)
    await chat.send("/start password_reset")
    send = chat.last.button("Send the link")
    await chat.press_button(send)
    r = await chat.press_button(send)
    assert r.texts == [t("buttons.already_pressed", "en")]
    assert len(await bot.mails()) == 1 and await bot.count(ResetToken) == 1


async def test_a_restart_while_asking_the_address(bot: Bot) -> None:
    chat = bot.chat(lang="zh")
    await bot.seller(email="owner@shop.example")
    await chat.send("/start password_reset")
    await bot.restart()
    r = await chat.send("owner@shop.example")
    assert r.texts == [sent(bot, "zh")]
    assert len(await bot.mails("owner@shop.example")) == 1


@pytest.mark.parametrize("lang", LANGS)
async def test_wrong_answers_questions_and_junk(bot: Bot, lang: str) -> None:
    chat = bot.chat(lang=lang)
    await bot.seller(email="owner@shop.example")
    await chat.send("/start password_reset")
    for bad in ("not-an-email", "owner(at)shop.example", "我的邮箱"):
        r = await chat.send(bad)
        assert r.texts == [t("reset.email_invalid", lang)], bad
    r = await chat.send({"zh": "重置链接多久有效?", "en": "how long is the link valid?"}[lang])
    assert r.texts[1:] == [t("flows.resume", lang), t("reset.ask_email", lang)]
    for junk in ("", "😀", "x" * 5000, "{{7*7}}", "'; DROP TABLE accounts; --"):
        r = await chat.send(junk)
        assert r.replies and "49" not in r.text
        assert await chat.asked() == [t("reset.ask_email", lang)], junk
    r = await chat.upload("a.png", png(600, 600))
    assert r.texts == [t("files.unexpected", lang), t("reset.ask_email", lang)]
    r = await chat.send("owner@shop.example")
    assert r.texts == [sent(bot, lang)]


async def test_words_at_the_confirmation_show_the_buttons_again(bot: Bot) -> None:
    chat = bot.chat(lang="en")
    await bot.seller(email="owner@shop.example", link=chat)
    await chat.send("/start password_reset")
    r = await chat.send("owner@shop.example")  # the address is not asked: never typed-in
    assert r.texts == [
        t("flows.use_buttons", "en"),
        t("reset.confirm_linked", "en", masked="o***@shop.example"),
    ]
    r = await chat.press("Cancel")
    assert r.texts == [t("commands.cancelled_short", "en")]
    assert await bot.mails() == []
