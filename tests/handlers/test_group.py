"""Group chats: only messages addressed to the bot are answered; FAQ answers only; never account
data and no action: a private-chat button instead, which continues in the private chat in the
group conversation's language."""

from __future__ import annotations

import pytest

from handlers.types import ButtonKind
from services.models import Conversation, Handoff, HandoffStatus, Store, Turn
from tests.conversation import Bot, t

LANGS = ["zh", "en"]
QUESTION = {"zh": "@sellerbot 怎么申请更多店铺", "en": "@sellerbot how can I get more stores?"}
ACCOUNT_QUESTION = {"zh": "@sellerbot 我的店铺有哪些", "en": "@sellerbot show my stores"}


async def test_messages_not_addressed_to_the_bot_get_no_answer_and_leave_no_trace(bot: Bot) -> None:
    chat = bot.chat(group=True)
    for text in (
        "how do I open a store?",
        "我想开店",
        "/help@otherbot",
        "/start@some_other_bot quota",
        "hi @sellerbotx",
    ):
        r = await chat.send(text)
        assert r.replies == [], text
    # a channel that marks a command for another bot as addressed: still not for us
    r = await chat.send("/help@otherbot", addressed=True)
    assert r.replies == []
    assert await bot.count(Conversation) == 0 and await bot.count(Turn) == 0


@pytest.mark.parametrize("lang", LANGS)
async def test_an_addressed_question_gets_the_faq_answer_and_a_private_chat_button(
    bot: Bot, lang: str
) -> None:
    chat = bot.chat(group=True)
    r = await chat.send(QUESTION[lang])
    assert r.texts == [bot.knowledge.render("quota_increase", lang, bot.policy)]
    [button] = r.buttons
    assert button.kind is ButtonKind.PRIVATE_CHAT and button.label == t("actions.quota", lang)
    assert button.id == f"quota-{lang}"


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("text", ["/stores", "/limits", "/link", "/stores@sellerbot", "/start open_store"])
async def test_account_commands_offer_the_private_chat_and_show_nothing(
    bot: Bot, lang: str, text: str
) -> None:
    chat = bot.chat(group=True, lang=lang)
    await bot.seller(email="owner@example.com", link=chat, stores=1)
    r = await chat.send(text)
    if text.startswith("/start"):
        assert r.says("menu.welcome", lang)
    else:
        assert r.texts == [t("group.private_only", lang)]
        [button] = r.buttons
        assert button.kind is ButtonKind.PRIVATE_CHAT
    assert "Store 1" not in r.text and "owner@" not in r.text and "o***@" not in r.text
    assert await chat.asked() == []


@pytest.mark.parametrize("lang", LANGS)
async def test_a_question_about_the_account_only_points_to_the_private_chat(bot: Bot, lang: str) -> None:
    chat = bot.chat(group=True)
    await bot.seller(link=chat, stores=1)
    r = await chat.send(ACCOUNT_QUESTION[lang])
    assert r.texts == [t("group.private_only", lang)]
    assert "Store 1" not in r.text
    assert [b.kind for b in r.buttons] == [ButtonKind.PRIVATE_CHAT]


@pytest.mark.parametrize("lang", LANGS)
async def test_the_private_chat_button_continues_there_in_the_groups_language(bot: Bot, lang: str) -> None:
    chat = bot.chat("member-1", group=True)
    account = await bot.seller(link=chat, stores=1)
    await chat.send(QUESTION[lang])
    r = await chat.press(t("actions.quota", lang))
    assert chat.group is False
    assert r.texts == [t("quota.ask_kind", lang)]
    await chat.press(t("quota.kind_store_quota", lang))
    r = await chat.press(t("actions.confirm", lang))
    assert r.says("quota.approved_store_quota", lang, before=1, after=11)
    assert (await bot.rows(Store))[0].account_id == account.id


@pytest.mark.parametrize("lang", LANGS)
async def test_a_person_is_reached_through_the_private_chat(bot: Bot, lang: str) -> None:
    chat = bot.chat("member-2", group=True)
    r = await chat.send({"zh": "@sellerbot 转人工", "en": "@sellerbot I want to talk to a person"}[lang])
    assert r.texts == [t("group.private_only", lang)]
    assert await bot.count(Handoff) == 0
    r = await chat.press(t("actions.agent", lang))
    assert r.texts == [t("handoff.started", lang)]
    [handoff] = await bot.rows(Handoff)
    assert handoff.status is HandoffStatus.WAITING
    [conversation] = await bot.rows(Conversation, Conversation.id == handoff.conversation_id)
    assert conversation.chat_id == "member-2"  # the private chat, not the group


async def test_two_misses_in_a_group_offer_a_person_in_private(bot: Bot) -> None:
    chat = bot.chat(group=True, lang="en")
    await chat.send("@sellerbot what's the weather in Paris")
    r = await chat.send("@sellerbot write me a poem")
    assert r.says("understanding.offer_agent", "en")
    assert [(b.kind, b.id) for b in r.buttons] == [(ButtonKind.PRIVATE_CHAT, "agent-en")]


async def test_group_faq_buttons_and_commands_work(bot: Bot) -> None:
    chat = bot.chat(group=True, lang="en")
    r = await chat.send("/help@sellerbot")
    assert r.says("menu.help", "en")
    r = await chat.press(bot.knowledge.intents["fees"].title["en"])
    assert r.texts == [bot.knowledge.render("fees", "en", bot.policy)]
    r = await chat.send("/lang zh")
    assert r.says("commands.lang_set", "zh")


async def test_each_member_of_a_group_has_a_conversation_of_their_own(bot: Bot) -> None:
    alice, bob = bot.chat("alice", group=True, lang="en"), bot.chat("bob", group=True, lang="en")
    await alice.send("@sellerbot what's the weather in Paris")
    r = await bob.send("@sellerbot write me a poem")
    assert r.says("understanding.fallback", "en")  # bob's first miss, not the group's second
    assert await bot.count(Conversation, Conversation.chat_id == "group-1") == 2


async def test_a_file_sent_to_the_bot_in_a_group_is_not_used(bot: Bot) -> None:
    chat = bot.chat(group=True, lang="en")
    r = await chat._turn(chat.inbound(text="@sellerbot", files=(), addressed=True))
    assert r.says("errors.empty", "en")
    from handlers.types import InboundFile

    r = await chat._turn(chat.inbound(files=(InboundFile("logo.png", b"x"),), addressed=True))
    assert r.texts == [t("files.unexpected_no_flow", "en")]


async def test_a_command_after_the_bots_name_is_a_command(bot: Bot) -> None:
    chat = bot.chat(group=True, lang="en")
    r = await chat.send("@sellerbot /help")
    assert r.says("menu.help", "en")
    r = await chat.send("@sellerbot /stores")
    assert r.texts == [t("group.private_only", "en")]
