"""Changing the login e-mail: licence number + new address → a confirmation mail to the new
address; a mistyped licence (check character) explained in place; no matching licence → a person,
nothing changed; answers corrected from the summary; a repeated confirm; a restart; junk."""

from __future__ import annotations

import re

import pytest

from services.models import Account, EmailChangeRequest, Handoff
from tests.conftest import make_licence
from tests.conversation import BASE_URL, Bot, Chat, png, t

LANGS = ["zh", "en"]


def mistyped(licence: str) -> str:
    """The licence with its check character wrong."""
    return licence[:-1] + ("0" if licence[-1] != "0" else "1")


def summary(lang: str, licence: str, new_email: str) -> str:
    return t("change_email.summary", lang, licence=licence, new_email=new_email)


async def start(chat: Chat, lang: str) -> None:
    r = await chat.send("/start change_email")
    assert r.texts == [t("change_email.intro", lang), t("change_email.ask_licence", lang)]


@pytest.mark.parametrize("lang", LANGS)
async def test_a_matching_licence_gets_a_confirmation_mail_at_the_new_address(bot: Bot, lang: str) -> None:
    chat = bot.chat(lang=lang)  # not linked: someone who lost access
    account = await bot.seller(email="old@shop.example")
    r = await chat.send({"zh": "忘记登录邮箱了", "en": "I forgot which e-mail I log in with"}[lang])
    assert r.texts == [bot.knowledge.render("change_email", lang, bot.policy)]
    r = await chat.press(t("actions.change_email", lang))
    assert r.texts == [t("change_email.intro", lang), t("change_email.ask_licence", lang)]
    r = await chat.send(account.licence.lower())
    assert r.texts == [t("change_email.ask_new_email", lang)]
    r = await chat.send("New@Shop.example")
    assert r.texts == [summary(lang, account.licence, "New@Shop.example")]
    assert r.labels == [
        t("actions.confirm", lang),
        t("change_email.edit_licence", lang),
        t("change_email.edit_email", lang),
        t("actions.cancel", lang),
    ]
    assert await bot.mails() == []
    r = await chat.press(t("actions.confirm", lang))
    assert r.texts == [t("change_email.confirmation_sent", lang, masked="N***@Shop.example", minutes=1440)]
    assert ("24小时" if lang == "zh" else "24 hours") in r.text
    [confirmation] = await bot.mails("New@Shop.example")
    assert re.search(rf"{re.escape(BASE_URL)}/confirm-email\?token=\S+", confirmation.get_content())
    assert len(await bot.mails("old@shop.example")) == 1  # the owner is warned at once
    [change] = await bot.rows(EmailChangeRequest)
    assert change.account_id == account.id and change.confirmed_at is None
    [row] = await bot.rows(Account, Account.id == account.id)
    assert row.email == "old@shop.example"  # nothing changes before the link is opened
    assert await chat.asked() == []


@pytest.mark.parametrize("lang", LANGS)
async def test_a_mistyped_licence_is_explained_and_asked_again(bot: Bot, lang: str) -> None:
    chat = bot.chat(lang=lang)
    account = await bot.seller()
    await start(chat, lang)
    r = await chat.send(mistyped(account.licence))
    why = {
        "zh": "最后一位校验码与前17位不符",
        "en": "the last character (the check character) does not match",
    }
    assert why[lang] in r.texts[0] and mistyped(account.licence) in r.texts[0]
    assert await chat.asked() == [t("change_email.ask_licence", lang)]
    r = await chat.send("12345")
    assert {"zh": "应为18位", "en": "must be 18 characters long"}[lang] in r.text
    r = await chat.send({"zh": "不知道", "en": "no idea"}[lang])
    assert r.texts == [t("change_email.licence_invalid_short", lang)]
    r = await chat.send(account.licence)
    assert r.texts == [t("change_email.ask_new_email", lang)]
    r = await chat.send("not-an-email")
    assert r.texts == [t("change_email.email_invalid", lang)]
    r = await chat.send("new@shop.example")
    assert r.says("change_email.summary", lang, licence=account.licence, new_email="new@shop.example")


@pytest.mark.parametrize("lang", LANGS)
async def test_no_matching_licence_goes_to_a_person_and_changes_nothing(bot: Bot, lang: str) -> None:
    chat = bot.chat(lang=lang)
    await bot.seller(email="old@shop.example")
    unknown = make_licence()
    await start(chat, lang)
    await chat.send(unknown)
    await chat.send("new@shop.example")
    confirm = chat.last.button(t("actions.confirm", lang))
    r = await chat.press_button(confirm)
    assert r.texts == [t("change_email.needs_agent", lang), t("handoff.started", lang)]
    [handoff] = await bot.rows(Handoff)
    assert handoff.reason == "email_change_no_match" and handoff.language == lang
    assert await bot.count(EmailChangeRequest) == 0 and await bot.mails() == []
    # the person sees what was asked; the bot stays silent meanwhile
    r = await chat.send("hello?")
    assert r.replies == []
    r = await chat.press_button(confirm)
    assert r.replies == [] and await bot.count(Handoff) == 1


@pytest.mark.parametrize("lang", LANGS)
async def test_correct_the_answers_from_the_summary(bot: Bot, lang: str) -> None:
    chat = bot.chat(lang=lang)
    account = await bot.seller(email="old@shop.example")
    await start(chat, lang)
    await chat.send(make_licence())
    await chat.send("typo@shop.exmaple")
    r = await chat.press(t("change_email.edit_licence", lang))
    assert r.texts == [t("change_email.ask_licence", lang)]
    r = await chat.send(account.licence)
    assert r.texts == [summary(lang, account.licence, "typo@shop.exmaple")]
    await chat.press(t("change_email.edit_email", lang))
    r = await chat.send("new@shop.example")
    assert r.texts == [summary(lang, account.licence, "new@shop.example")]
    # the current address is no change: back to the new address
    await chat.press(t("change_email.edit_email", lang))
    await chat.send("OLD@shop.example")
    r = await chat.press(t("actions.confirm", lang))
    assert (
        r.texts[0]
        == {
            "zh": "该邮箱已经是账户的登录邮箱,无需更改。",
            "en": "That address is already the login e-mail of the account; nothing needs to change.",
        }[lang]
    )
    assert r.texts[1] == t("change_email.ask_new_email", lang)
    await chat.send("new@shop.example")
    r = await chat.press(t("actions.confirm", lang))
    assert r.says("change_email.confirmation_sent", lang, masked="n***@shop.example", minutes=1440)


@pytest.mark.parametrize("lang", LANGS)
async def test_a_fourth_request_within_the_hour_is_told_to_wait_and_mails_nobody(bot: Bot, lang: str) -> None:
    account = await bot.seller(email="old@shop.example")
    chat = bot.chat(lang=lang)
    for n in range(4):
        await start(chat, lang)
        await chat.send(account.licence)
        await chat.send(f"new{n}@shop.example")
        r = await chat.press(t("actions.confirm", lang))
    assert r.texts == [
        {
            "zh": "请求过于频繁:每小时最多3次。请60分钟后再试。",
            "en": "Too many requests: at most 3 per hour. Please try again in 60 minute(s).",
        }[lang]
    ]
    assert await chat.asked() == []  # the flow ended: nothing is left half done
    assert await bot.mails("new3@shop.example") == []
    assert len(await bot.mails("old@shop.example")) == 3
    bot.clock.advance(minutes=61)
    await start(chat, lang)
    await chat.send(account.licence)
    await chat.send("new4@shop.example")
    r = await chat.press(t("actions.confirm", lang))
    assert r.says("change_email.confirmation_sent", lang, masked="n***@shop.example", minutes=1440)


async def test_confirm_pressed_twice_mails_once(bot_any: Bot) -> None:
    bot = bot_any
    chat = bot.chat(lang="en")
    account = await bot.seller(email="old@shop.example")
    await start(chat, "en")
    await chat.send(account.licence)
    await chat.send("new@shop.example")
    confirm = chat.last.button("Confirm")
    await chat.press_button(confirm)
    r = await chat.press_button(confirm)
    assert r.texts == [t("buttons.already_pressed", "en")]
    assert await bot.count(EmailChangeRequest) == 1
    assert len(await bot.mails("new@shop.example")) == 1


async def test_a_restart_in_the_middle(bot: Bot) -> None:
    chat = bot.chat(lang="zh")
    account = await bot.seller(email="old@shop.example")
    await start(chat, "zh")
    await chat.send(account.licence)
    await bot.restart()
    await chat.send("new@shop.example")
    r = await chat.press("确认")
    assert r.says("change_email.confirmation_sent", "zh", masked="n***@shop.example", minutes=1440)
    assert len(await bot.mails("new@shop.example")) == 1


@pytest.mark.parametrize("lang", LANGS)
async def test_questions_and_junk_at_every_step(bot: Bot, lang: str) -> None:
    chat = bot.chat(lang=lang)
    account = await bot.seller(email="old@shop.example")
    await start(chat, lang)
    r = await chat.send({"zh": "佣金是多少?", "en": "What is the commission?"}[lang])
    assert r.texts[1:] == [t("flows.resume", lang), t("change_email.ask_licence", lang)]
    for step, answer in (
        ("licence", account.licence),
        ("new_email", "{{7*7}}@shop.example"),
        ("confirm", None),
    ):
        question = await chat.asked()
        for junk in ("", "😀", "x" * 5000, "'; DROP TABLE accounts; --"):
            r = await chat.send(junk)
            assert r.replies and "49" not in r.text, (step, junk)
            assert await chat.asked() == question, (step, junk)
        r = await chat.upload("licence.png", png(600, 600))
        assert r.texts[0] == t("files.unexpected", lang)
        r = await chat.press_id("dead")
        assert r.texts[0] == t("buttons.expired", lang)
        if answer is not None:
            await chat.send(answer)
    # an address typed as template code is shown literally
    assert "{{7*7}}@shop.example" in chat.last.text and "49@" not in chat.last.text
    r = await chat.press(t("actions.cancel", lang))
    assert r.texts == [t("commands.cancelled_short", lang)]
    assert await bot.count(EmailChangeRequest) == 0
