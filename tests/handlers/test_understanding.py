"""Understanding questions, in both languages: an answer with its action button, "A or B?" on a
near tie, "I can help with …" and the topic menu out of scope, a person after two misses, a
question in the middle of a flow answered without losing the flow, and cancelling a flow."""

from __future__ import annotations

import pytest

from handlers.understanding import MENU_INTENTS
from services.models import Handoff, HandoffStatus, KycStatus, PayoutStatus, QuotaRequest, Rating, Store
from tests.conftest import make_licence
from tests.conversation import NEAR_TIES, Bot, t

LANGS = ["zh", "en"]

CLEAR = {
    "zh": ("一个号能开几个店", "store_limits", "我的上限"),
    "en": ("how many stores can I open?", "store_limits", "My limits"),
}
OUT_OF_SCOPE = {
    "zh": ["今天天气怎么样", "帮我写一首诗"],
    "en": ["what's the weather in Paris", "write me a poem"],
}
FEES_QUESTION = {"zh": "佣金是多少?", "en": "What is the commission?"}


def title(bot: Bot, intent: str, lang: str) -> str:
    return bot.knowledge.intents[intent].title[lang]


def menu_labels(bot: Bot, lang: str) -> list[str]:
    return [title(bot, i, lang) for i in MENU_INTENTS]


@pytest.mark.parametrize("lang", LANGS)
async def test_a_clear_question_gets_its_answer_and_action_button(bot: Bot, lang: str) -> None:
    question, intent, action = CLEAR[lang]
    chat = bot.chat(lang=lang)
    r = await chat.send(question)
    assert r.texts == [bot.knowledge.render(intent, lang, bot.policy)]
    assert r.labels == [action]
    # the answer states the policy's own numbers
    assert str(bot.policy.listing_hard_cap) in r.text
    # the button starts the action: here, linking first (the chat is not linked yet)
    r = await chat.press(action)
    assert r.says("link.ask_email", lang)


@pytest.mark.parametrize("lang", LANGS)
async def test_a_near_tie_asks_which_one_with_buttons(tie_bot: Bot, lang: str) -> None:
    bot = tie_bot
    question, intents = NEAR_TIES[lang]
    chat = bot.chat(lang=lang)
    r = await chat.send(question)
    titles = [title(bot, i, lang) for i in intents]
    assert r.labels == [*titles, t("understanding.none_of_these", lang)]
    assert r.texts == [t("understanding.clarify", lang, options=titles)]
    assert (" or " if lang == "en" else "还是") in r.text
    r = await chat.press(titles[1])
    assert r.texts[0] == bot.knowledge.render(intents[1], lang, bot.policy)
    turns = await chat.turns()
    assert turns[0].decision == "clarify" and turns[2].decision == "chosen" and turns[2].intent == intents[1]


@pytest.mark.parametrize("lang", LANGS)
async def test_none_of_these_counts_as_a_miss(tie_bot: Bot, lang: str) -> None:
    bot = tie_bot
    chat = bot.chat(lang=lang)
    await chat.send(NEAR_TIES[lang][0])
    r = await chat.press(t("understanding.none_of_these", lang))
    assert r.says("understanding.fallback", lang, topics=menu_labels(bot, lang))
    r = await chat.send(OUT_OF_SCOPE[lang][0])
    assert r.says("understanding.offer_agent", lang)


@pytest.mark.parametrize("lang", LANGS)
async def test_out_of_scope_says_what_the_bot_can_do_then_offers_a_person(bot: Bot, lang: str) -> None:
    chat = bot.chat(lang=lang)
    first, second = OUT_OF_SCOPE[lang]
    r = await chat.send(first)
    assert r.texts == [t("understanding.fallback", lang, topics=menu_labels(bot, lang))]
    assert r.labels == menu_labels(bot, lang)
    r = await chat.send(second)
    assert r.texts == [t("understanding.offer_agent", lang)]
    assert r.labels == [t("actions.agent", lang), t("actions.menu", lang)]
    r = await chat.press(t("actions.agent", lang))
    assert r.says("handoff.started", lang)
    [handoff] = await bot.rows(Handoff)
    assert handoff.status is HandoffStatus.WAITING and handoff.reason == "misses" and handoff.language == lang


@pytest.mark.parametrize("lang", LANGS)
async def test_an_answer_between_two_misses_resets_the_count(bot: Bot, lang: str) -> None:
    chat = bot.chat(lang=lang)
    await chat.send(OUT_OF_SCOPE[lang][0])
    await chat.send(FEES_QUESTION[lang])
    r = await chat.send(OUT_OF_SCOPE[lang][1])
    assert r.says("understanding.fallback", lang, topics=menu_labels(bot, lang))


@pytest.mark.parametrize("lang", LANGS)
async def test_show_topics_after_misses_shows_the_menu(bot: Bot, lang: str) -> None:
    chat = bot.chat(lang=lang)
    for question in OUT_OF_SCOPE[lang]:
        await chat.send(question)
    r = await chat.press(t("actions.menu", lang))
    assert r.says("menu.help", lang, topics=menu_labels(bot, lang))
    assert r.labels == menu_labels(bot, lang)


@pytest.mark.parametrize("lang", LANGS)
async def test_a_topic_button_answers_that_topic(bot: Bot, lang: str) -> None:
    chat = bot.chat(lang=lang)
    await chat.send("/help")
    r = await chat.press(title(bot, "fees", lang))
    assert r.texts == [bot.knowledge.render("fees", lang, bot.policy)]


@pytest.mark.parametrize("lang", LANGS)
async def test_a_question_in_the_middle_of_a_flow_is_answered_and_the_flow_goes_on(
    bot: Bot, lang: str
) -> None:
    chat = bot.chat(lang=lang)
    await bot.seller(link=chat)
    await chat.send("/start open_store")
    r = await chat.send(FEES_QUESTION[lang])
    assert r.texts[0] == bot.knowledge.render("fees", lang, bot.policy)
    assert r.texts[1:] == [t("flows.resume", lang), t("open_store.ask_title", lang, min=2, max=50)]
    assert await chat.asked() == [t("open_store.ask_title", lang, min=2, max=50)]
    # the question was not taken as the store's title
    r = await chat.send("Sunrise Gadgets")
    assert r.says("open_store.ask_specialization", lang)
    assert (await chat.conversation()).state["data"]["title"] == "Sunrise Gadgets"
    # at a step answered with buttons, a question is answered too
    r = await chat.send(FEES_QUESTION[lang])
    assert r.texts[0] == bot.knowledge.render("fees", lang, bot.policy)
    assert r.says("open_store.ask_specialization", lang) and len(r.labels) == 5
    assert await chat.asked() == [t("open_store.ask_specialization", lang)]


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("word", ["/cancel", "取消", "cancel", "Cancel"])
async def test_cancel_ends_a_flow_and_changes_nothing(bot: Bot, lang: str, word: str) -> None:
    chat = bot.chat(lang=lang)
    account = await bot.seller(link=chat)
    await chat.send("/start open_store")
    await chat.send("Sunrise Gadgets")
    r = await chat.send(word)
    assert r.texts == [t("commands.cancelled", lang, topics=menu_labels(bot, lang))]
    assert await chat.asked() == []
    assert await bot.count(Store, Store.account_id == account.id) == 0
    # the flow's old buttons are dead
    r = await chat.send("/cancel")
    assert r.says("commands.nothing_to_cancel", lang)


@pytest.mark.parametrize(
    ("first", "second", "lang_after"),
    [("佣金是多少?", "how do I register?", "en"), ("What is the commission?", "怎么注册", "zh")],
)
async def test_the_reply_language_follows_each_question_and_is_remembered(
    bot: Bot, first: str, second: str, lang_after: str
) -> None:
    chat = bot.chat()
    await chat.send(first)
    r = await chat.send(second)
    assert r.texts == [bot.knowledge.render("registration", lang_after, bot.policy)]
    # remembered for a message with no language of its own
    r = await chat.send("😀")
    assert r.texts == [t("errors.empty", lang_after)]
    assert (await chat.conversation()).language == lang_after


async def test_the_channel_language_hint_chooses_the_first_language(bot: Bot) -> None:
    r = await bot.chat("u-en", lang="en-GB").send("/start")
    assert r.says("menu.welcome", "en", topics=menu_labels(bot, "en"))
    r = await bot.chat("u-zh", lang="zh-hans").send("/start")
    assert r.says("menu.welcome", "zh", topics=menu_labels(bot, "zh"))
    # no hint: the configured default (zh)
    r = await bot.chat("u-none").send("/start")
    assert r.says("menu.welcome", "zh", topics=menu_labels(bot, "zh"))


@pytest.mark.parametrize("lang", LANGS)
async def test_the_human_agent_intent_hands_off(bot: Bot, lang: str) -> None:
    chat = bot.chat(lang=lang)
    r = await chat.send({"zh": "转人工", "en": "I want to talk to a person"}[lang])
    assert r.texts == [t("handoff.started", lang)]
    [handoff] = await bot.rows(Handoff)
    assert handoff.reason == "requested"


@pytest.mark.parametrize("lang", LANGS)
async def test_a_value_the_step_cannot_use_is_explained_not_answered_as_a_question(
    bot: Bot, lang: str
) -> None:
    chat = bot.chat(lang=lang)
    await chat.send("/start change_email")
    await chat.send(make_licence())  # a valid licence of no account: the match comes on confirm
    # "not-an-email" mentions e-mail: the matcher would answer it as a question about e-mail
    r = await chat.send("not-an-email")
    assert r.texts == [t("change_email.email_invalid", lang)]
    assert (await chat.conversation()).language == lang
    # a statement at a step answered with buttons: the buttons again, not an unrelated answer
    await chat.send("new@shop.example")
    r = await chat.send("owner@shop.example")
    assert r.texts[0] == t("flows.use_buttons", lang) and len(r.labels) == 4


# -- requests act, questions explain, personal questions are answered from the account -------
REQUESTS = {
    "zh": [
        ("帮我开个店", "open_store"),
        ("我要预约上门揽收", "pickup"),
        ("给我发个重置密码的链接", "password_reset"),
    ],
    "en": [
        ("please open a store for me", "open_store"),
        ("book a pickup for me please", "pickup"),
        ("send me a password reset link", "password_reset"),
    ],
}


@pytest.mark.parametrize("lang", LANGS)
async def test_a_request_starts_the_action_with_a_one_line_intro(bot: Bot, lang: str) -> None:
    for text, flow in REQUESTS[lang]:
        chat = bot.chat(f"asker-{flow}", lang=lang)
        await bot.seller(link=chat, email=f"{flow}@shop.example", store_limit=3)
        r = await chat.send(text)
        assert r.texts[0] == t("understanding.on_it", lang, action=t(f"actions.{flow}", lang)), text
        assert await chat.asked(), text  # the action goes on: a question of its own is waiting


@pytest.mark.parametrize("lang", LANGS)
async def test_a_question_about_how_it_works_gets_the_answer_and_the_offer(bot: Bot, lang: str) -> None:
    chat = bot.chat(lang=lang)
    await bot.seller(link=chat)
    r = await chat.send({"zh": "怎么开店", "en": "how do I open a store"}[lang])
    assert r.texts == [bot.knowledge.render("open_store", lang, bot.policy)]
    assert r.labels == [t("actions.open_store", lang)]
    assert await chat.asked() == []


@pytest.mark.parametrize("lang", LANGS)
async def test_personal_questions_are_answered_from_the_account(bot: Bot, lang: str) -> None:
    chat = bot.chat(lang=lang)
    seller = await bot.seller(link=chat, store_limit=3)
    await bot.store(seller.id, "Gadget Hub")
    r = await chat.send({"zh": "我的店铺有哪些", "en": "which stores do I have"}[lang])
    assert "Gadget Hub" in r.text
    r = await chat.send({"zh": "我还能开几个店", "en": "how many stores can I still open"}[lang])
    assert "3" in r.text and r.text != bot.knowledge.render("store_limits", lang, bot.policy)


@pytest.mark.parametrize("lang", LANGS)
async def test_a_personal_question_from_an_unlinked_chat_offers_linking_first(bot: Bot, lang: str) -> None:
    chat = bot.chat(lang=lang)
    r = await chat.send({"zh": "我的店铺有哪些", "en": "which stores do I have"}[lang])
    assert t("link.ask_email", lang) in r.text
    assert await chat.asked() == [t("link.ask_email", lang)]


def test_the_mode_of_a_message_is_read_right_on_the_labelled_set() -> None:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from modes import score

    accuracy, misses, _, total = score()
    assert sum(total.values()) >= 200 and accuracy >= 0.95, misses


@pytest.mark.parametrize("lang", LANGS)
async def test_why_cant_i_get_more_stores_names_every_failed_rule_without_submitting(
    bot: Bot, lang: str
) -> None:
    chat = bot.chat(lang=lang)
    seller = await bot.seller(link=chat, store_limit=3)
    await bot.store(seller.id, "Bad Shop", rating=Rating.CRITICAL)
    r = await chat.send({"zh": "为什么我不能提额", "en": "why can't I get more stores"}[lang])
    assert "Bad Shop" in r.text  # the store that blocks it, named as a refusal would
    assert await bot.rows(QuotaRequest) == []  # nothing submitted


@pytest.mark.parametrize("text", ["我想再开一家店铺", "我想再开一个店铺", "please open another store for me"])
async def test_open_another_store_opens_one_with_a_free_slot_and_says_so_at_the_limit(
    bot: Bot, text: str
) -> None:
    lang = "en" if text.isascii() else "zh"
    chat = bot.chat("with-room", lang=lang)
    await bot.seller(link=chat, email="room@shop.example", stores=1, store_limit=2)
    r = await chat.send(text)
    assert await chat.asked() == [t("open_store.ask_title", lang, min=2, max=50)], r.texts
    full = bot.chat("at-limit", lang=lang)
    await bot.seller(link=full, email="full@shop.example", stores=2, store_limit=2)
    r = await full.send(text)
    assert await full.asked() == []
    assert t("actions.quota", lang) in r.labels  # the increase is offered


@pytest.mark.parametrize("lang", LANGS)
async def test_a_request_for_another_action_mid_flow_asks_to_finish_or_switch(bot: Bot, lang: str) -> None:
    chat = bot.chat(lang=lang)
    await bot.seller(link=chat, stores=1, store_limit=3)
    await chat.send("/start open_store")
    current, other = t("actions.open_store", lang), t("actions.pickup", lang)
    request = {"zh": "帮我预约上门揽收", "en": "please book a pickup for me"}[lang]
    offer = await chat.send(request)
    assert offer.texts == [t("flows.switch", lang, current=current, other=other)]
    assert offer.labels == [t("flows.stay", lang, current=current), t("flows.go", lang, other=other)]
    ask_title = t("open_store.ask_title", lang, min=2, max=50)
    assert await chat.asked() == [ask_title]  # nothing taken as the store's title
    r = await chat.press_button(offer.button(t("flows.stay", lang, current=current)))
    assert r.texts == [t("flows.resume", lang), ask_title]
    await chat.send(request)
    r = await chat.press(t("flows.go", lang, other=other))
    assert r.texts == [t("pickup.ask_city", lang, cities=["Shenzhen"])]


@pytest.mark.parametrize("lang", LANGS)
async def test_is_my_kyc_approved_and_is_my_payout_bound_are_answered_from_the_account(
    bot: Bot, lang: str
) -> None:
    chat = bot.chat(lang=lang)
    await bot.seller(link=chat, kyc=KycStatus.PENDING, payout=PayoutStatus.UNBOUND)
    for text in {
        "zh": ["我的KYC通过了吗", "我的收款账户绑定了吗"],
        "en": ["is my KYC approved", "is my payout account bound"],
    }[lang]:
        r = await chat.send(text)
        assert {"zh": "审核中", "en": "under review"}[lang] in r.text, (text, r.texts)
        assert {"zh": "尚未绑定", "en": "not bound yet"}[lang] in r.text
