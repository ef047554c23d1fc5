"""Linking a chat to a merchant account: registered e-mail → 6-digit code from the mail → linked;
a wrong code with tries left, an expired code, an unknown address answered exactly like a
registered one; wrong answers, an interruption, a repeated button, a restart and junk."""

from __future__ import annotations

import asyncio
import re

import pytest

from services.linking import linked_account_id
from services.models import ChatLink
from tests.conversation import Bot, Chat, png, t

LANGS = ["zh", "en"]
QUESTION = {"zh": "佣金是多少?", "en": "What is the commission?"}


async def code_from_mail(bot: Bot, to: str) -> str:
    return await bot.link_code(to)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


async def linked(bot: Bot, chat: Chat) -> int | None:
    async with bot.sessions() as session:
        return await linked_account_id(session, channel="console", chat_user_id=chat.user)


def code_sent(lang: str) -> str:
    return t("link.code_sent", lang, minutes=10, attempts=5)


@pytest.mark.parametrize("lang", LANGS)
async def test_link_with_the_code_from_the_mail(bot_any: Bot, lang: str) -> None:
    bot = bot_any
    chat = bot.chat(lang=lang)
    account = await bot.seller(email="owner@shop.example")
    r = await chat.send("/link")
    assert r.texts == [t("link.intro", lang), t("link.ask_email", lang)]
    r = await chat.send("  Owner@Shop.Example ")
    assert r.texts == [code_sent(lang)]
    assert r.labels == [t("link.resend", lang), t("link.other_email", lang)]
    code = await code_from_mail(bot, "owner@shop.example")
    [mail] = await bot.mails()
    assert ("聊天绑定验证码" if lang == "zh" else "Your code to link") in mail["Subject"]
    # a wrong code: tries left
    r = await chat.send(wrong(code))
    assert r.texts == [
        {"zh": "验证码不正确,您还可以再试4次。", "en": "That code is not right. You have 4 tries left."}[lang]
    ]
    assert await linked(bot, chat) is None
    # the code as people type it
    r = await chat.send(f"{code[:3]} {code[3:]}")
    assert r.texts == [t("link.linked", lang)]
    assert await linked(bot, chat) == account.id
    assert await chat.asked() == []


@pytest.mark.parametrize("lang", LANGS)
async def test_an_unknown_address_is_answered_like_a_registered_one(bot: Bot, lang: str) -> None:
    await bot.seller(email="owner@shop.example")
    registered, unknown = bot.chat("a", lang=lang), bot.chat("b", lang=lang)
    for chat, address in ((registered, "owner@shop.example"), (unknown, "nobody@shop.example")):
        await chat.send("/link")
        await chat.send(address)
    assert registered.last.texts == unknown.last.texts == [code_sent(lang)]
    assert registered.last.labels == unknown.last.labels
    assert [m["To"] for m in await bot.mails()] == ["owner@shop.example"]
    # and a code typed for the unknown address is simply wrong
    r = await unknown.send("123456")
    assert "4" in r.text and await linked(bot, unknown) is None


@pytest.mark.parametrize("lang", LANGS)
async def test_an_expired_code_offers_a_new_one(bot: Bot, lang: str) -> None:
    chat = bot.chat(lang=lang)
    account = await bot.seller(email="owner@shop.example")
    await chat.send("/link")
    await chat.send("owner@shop.example")
    old = await code_from_mail(bot, "owner@shop.example")
    bot.clock.advance(minutes=11)
    r = await chat.send(old)
    assert r.texts == [
        {
            "zh": "验证码已失效(验证码有效期为10分钟),请重新获取验证码。",
            "en": "There is no valid code any more (a code is valid for 10 minutes). Ask for a new code.",
        }[lang],
        t("link.ask_new_code", lang),
    ]
    r = await chat.press(t("link.resend", lang))
    assert r.texts == [code_sent(lang)]
    new = await code_from_mail(bot, "owner@shop.example")
    r = await chat.send(new)
    assert r.says("link.linked", lang)
    assert await linked(bot, chat) == account.id


async def test_five_wrong_codes_block_the_code(bot: Bot) -> None:
    chat = bot.chat(lang="en")
    await bot.seller(email="owner@shop.example")
    await chat.send("/link")
    await chat.send("owner@shop.example")
    code = await code_from_mail(bot, "owner@shop.example")
    for left in (4, 3, 2, 1):
        r = await chat.send(wrong(code))
        assert f"{left} tr" in r.text
    r = await chat.send(wrong(code))
    assert r.texts[0] == "The code was entered wrongly 5 times and is now blocked. Ask for a new code."
    assert r.labels == [t("link.resend", "en"), t("link.other_email", "en")]
    r = await chat.send(code)  # even the right one: blocked
    assert "new code" in r.text and await linked(bot, chat) is None


@pytest.mark.parametrize("lang", LANGS)
async def test_wrong_answers_at_each_step_are_explained_in_place(bot: Bot, lang: str) -> None:
    chat = bot.chat(lang=lang)
    account = await bot.seller(email="owner@shop.example")
    await chat.send("/link")
    for bad in ("not-an-email", "owner at shop dot example", "owner@", "12345"):
        r = await chat.send(bad)
        assert r.texts == [t("link.email_invalid", lang)], bad
        assert await chat.asked() == [t("link.ask_email", lang)]
    await chat.send("owner@shop.example")
    for bad in ("abc", "12345", "1234567", "my code"):
        r = await chat.send(bad)
        assert r.texts[0] == t("link.code_format", lang), bad
        assert await chat.asked() == [t("link.ask_code", lang, minutes=10)]
    # "use another e-mail" goes back to the address, in place
    r = await chat.press(t("link.other_email", lang))
    assert r.texts == [t("link.ask_email", lang)]
    await chat.send("owner@shop.example")
    r = await chat.send(await code_from_mail(bot, "owner@shop.example"))
    assert r.says("link.linked", lang) and await linked(bot, chat) == account.id


@pytest.mark.parametrize("lang", LANGS)
async def test_a_question_while_linking_is_answered_and_linking_goes_on(bot: Bot, lang: str) -> None:
    chat = bot.chat(lang=lang)
    await bot.seller(email="owner@shop.example")
    await chat.send("/link")
    r = await chat.send(QUESTION[lang])
    assert r.texts == [
        bot.knowledge.render("fees", lang, bot.policy),
        t("flows.resume", lang),
        t("link.ask_email", lang),
    ]
    await chat.send("owner@shop.example")
    r = await chat.send(QUESTION[lang])
    assert r.texts[1:] == [t("flows.resume", lang), t("link.ask_code", lang, minutes=10)]
    r = await chat.send(await code_from_mail(bot, "owner@shop.example"))
    assert r.says("link.linked", lang)


async def test_send_a_new_code_pressed_twice_mails_once(bot: Bot) -> None:
    chat = bot.chat(lang="en")
    await bot.seller(email="owner@shop.example")
    await chat.send("/link")
    await chat.send("owner@shop.example")
    resend = chat.last.button("Send a new code")
    r = await chat.press_button(resend)
    assert r.texts == [code_sent("en")]
    r = await chat.press_button(resend)
    assert r.texts == [t("buttons.already_pressed", "en")]
    assert len(await bot.mails()) == 2
    # only the newest code works
    codes = [re.search(r"^\s+(\d{6})\s*$", m.get_content(), re.MULTILINE).group(1) for m in await bot.mails()]
    if codes[0] != codes[1]:
        r = await chat.send(codes[0])
        assert "not right" in r.text
    r = await chat.send(codes[1])
    assert r.says("link.linked", "en")


async def test_linking_survives_a_restart(bot_any: Bot) -> None:
    bot = bot_any
    chat = bot.chat(lang="zh")
    account = await bot.seller(email="owner@shop.example")
    await chat.send("/stores")
    await chat.send("owner@shop.example")
    code = await code_from_mail(bot, "owner@shop.example")
    await bot.restart()
    r = await chat.send(code)
    # linked, and on to what the seller first asked for
    assert r.texts == [t("link.linked", "zh"), t("account.no_stores", "zh")]
    assert await linked(bot, chat) == account.id


@pytest.mark.parametrize("lang", LANGS)
async def test_junk_at_each_step_changes_nothing(bot: Bot, lang: str) -> None:
    chat = bot.chat(lang=lang)
    await bot.seller(email="owner@shop.example")
    await chat.send("/link")
    for step in ("email", "code"):
        question = await chat.asked()
        for junk in ("", "😀", "x" * 5000, "{{7*7}}", "'; DROP TABLE accounts; --"):
            r = await chat.send(junk)
            assert r.replies and "49" not in r.text, junk
            assert await chat.asked() == question, junk
        r = await chat.upload("logo.png", png(600, 600))
        assert r.texts[0] == t("files.unexpected", lang)
        r = await chat.press_id("nope")
        assert r.texts[0] == t("buttons.expired", lang)
        assert await chat.asked() == question
        if step == "email":
            await chat.send("owner@shop.example")
    r = await chat.send(await code_from_mail(bot, "owner@shop.example"))
    assert r.says("link.linked", lang)


@pytest.mark.parametrize("lang", LANGS)
async def test_an_action_asked_before_linking_goes_on_after_linking(bot: Bot, lang: str) -> None:
    chat = bot.chat(lang=lang)
    await bot.seller(email="owner@shop.example")
    r = await chat.send("/start open_store")
    assert r.texts == [
        t("link.intro_for", lang, action=t("actions.open_store", lang)),
        t("link.ask_email", lang),
    ]
    await chat.send("owner@shop.example")
    r = await chat.send(await code_from_mail(bot, "owner@shop.example"))
    assert r.texts == [
        t("link.linked", lang),
        t("open_store.intro", lang, free=1),
        t("open_store.ask_title", lang, min=2, max=50),
    ]
    assert await chat.asked() == [t("open_store.ask_title", lang, min=2, max=50)]


@pytest.mark.parametrize("lang", LANGS)
async def test_an_already_linked_chat_can_link_another_account(bot: Bot, lang: str) -> None:
    chat = bot.chat(lang=lang)
    first = await bot.seller(email="first@shop.example", link=chat)
    second = await bot.seller(email="second@shop.example")
    r = await chat.send("/link")
    assert r.texts == [t("link.already_linked", lang)]
    assert r.labels == [t("link.relink", lang), t("actions.cancel", lang)]
    r = await chat.press(t("actions.cancel", lang))
    assert r.texts == [t("commands.cancelled_short", lang)] and await linked(bot, chat) == first.id
    await chat.send("/link")
    r = await chat.press(t("link.relink", lang))
    assert r.texts == [t("link.ask_email", lang)] and await linked(bot, chat) is None
    await chat.send("second@shop.example")
    await chat.send(await code_from_mail(bot, "second@shop.example"))
    assert await linked(bot, chat) == second.id
    assert await bot.count(ChatLink) == 1


async def test_the_address_sent_twice_at_once_mails_one_code(bot_any: Bot) -> None:
    from tests.handlers.test_core import held_at_the_first_save

    bot = bot_any
    chat = bot.chat(lang="en")
    await bot.seller(email="owner@shop.example")
    await chat.send("/link")
    cores = [bot.new_core(), bot.new_core()]
    held_at_the_first_save(cores)  # both messages are handled from the same step, at once
    await asyncio.gather(*(core.handle(chat.inbound(text="owner@shop.example")) for core in cores))
    assert len(await bot.mails("owner@shop.example")) == 1
    # the code that was mailed links the chat
    await chat.send(await code_from_mail(bot, "owner@shop.example"))
    assert await linked(bot, chat) is not None


async def test_two_addresses_sent_at_once_are_two_sends(bot_any: Bot) -> None:
    from tests.handlers.test_core import held_at_the_first_save

    bot = bot_any
    chat = bot.chat(lang="en")
    await bot.seller(email="one@shop.example")
    await bot.seller(email="two@shop.example")
    await chat.send("/link")
    cores = [bot.new_core(), bot.new_core()]
    held_at_the_first_save(cores)
    replies = await asyncio.gather(
        cores[0].handle(chat.inbound(text="one@shop.example")),
        cores[1].handle(chat.inbound(text="two@shop.example")),
    )
    # no error: the message saved first is told a code was sent; the other one, retried from
    # the step that message reached, is read as an attempt at the code
    texts = [[reply.text for reply in r] for r in replies]
    assert [code_sent("en")] in texts
    assert len(await bot.mails("one@shop.example")) == len(await bot.mails("two@shop.example")) == 1
