"""Requesting more stores or listing capacity: a refusal names every failed rule and the stores
concerned; an eligible request is granted (the limit goes up) or queued when auto_approve is
off; an open request is not asked twice; a repeated confirm, a restart, a verdict gone stale."""

from __future__ import annotations

import pytest

from services.models import Account, QuotaRequest, Rating, RequestKind, RequestStatus
from services.policy import Policy
from tests.conversation import Bot, Chat, t

LANGS = ["zh", "en"]

REASONS = {
    "zh": [
        "您的卖家表现评级为“较差”,需要达到一般或优秀。",
        "店铺“Banned Shop”在最近183天内被封禁过。",
        "以下店铺评级为较差或严重:“Bad Shop”(严重)",
        "您有6个店铺的评级仍为“未知”(“U0”、“U1”、“U2”、“U3”、“U4”、“U5”),最多只能有5个。",
        "以下店铺尚未设置类目:“No Spec”。",
    ],
    "en": [
        "Your seller performance rating is poor; it must be average or perfect.",
        "“Banned Shop” was banned within the last 183 days.",
        "These stores are rated poor or critical: “Bad Shop” (critical).",
        "6 of your stores are still rated unknown (“U0”, “U1”, “U2”, “U3”, “U4”, “U5”); at most 5 may be.",
        "These stores have no specialization: “No Spec”.",
    ],
}


async def ask(chat: Chat, lang: str, kind: str = "store_quota"):
    await chat.send("/start quota")
    return await chat.press(t(f"quota.kind_{kind}", lang))


async def account(bot: Bot, account_id: int) -> Account:
    [row] = await bot.rows(Account, Account.id == account_id)
    return row


@pytest.mark.parametrize("lang", LANGS)
async def test_a_refusal_names_every_failed_rule_and_store(bot_any: Bot, lang: str) -> None:
    bot = bot_any
    chat = bot.chat(lang=lang)
    seller = await bot.seller(link=chat, rating=Rating.POOR, store_limit=20)
    await bot.store(seller.id, "Bad Shop", rating=Rating.CRITICAL)
    await bot.store(seller.id, "Banned Shop", banned_days_ago=10)
    await bot.store(seller.id, "No Spec", specialization=None)
    for n in range(6):
        await bot.store(seller.id, f"U{n}", rating=Rating.UNKNOWN)
    # A request starts the action at once: a one-line intro, then (the limit being named) the
    # verdict
    r = await chat.send({"zh": "我想增加店铺数量", "en": "i want more stores"}[lang])
    intro, verdict, reasons = r.texts
    assert intro == t("understanding.on_it", lang, action=t("actions.quota", lang))
    assert verdict == t("quota.not_eligible", lang)
    for reason in REASONS[lang]:
        assert reason in reasons, reason
    assert reasons.startswith(t("refusal.several", lang, reasons=[]).splitlines()[0])
    assert r.labels == [] and await chat.asked() == []
    assert await bot.count(QuotaRequest) == 0
    assert (await account(bot, seller.id)).store_limit == 20
    # my limits says so too, without offering the request
    r = await chat.send("/limits")
    assert "20" in r.text and r.labels == []


@pytest.mark.parametrize("lang", LANGS)
async def test_a_limit_that_cannot_be_raised_either_way_is_refused_without_asking_which(
    bot: Bot, lang: str
) -> None:
    chat = bot.chat(lang=lang)
    await bot.seller(link=chat, rating=Rating.POOR)
    r = await chat.send("/start quota")
    assert t("quota.ask_kind", lang) not in r.texts
    assert r.texts[0] == t("quota.not_eligible", lang)
    # the rule both kinds share is named once
    [reason] = r.texts[1:]
    assert {"zh": "卖家表现评级", "en": "seller performance rating"}[lang] in reason.casefold()
    assert r.labels == [] and await chat.asked() == []
    assert await bot.count(QuotaRequest) == 0


@pytest.mark.parametrize("lang", LANGS)
async def test_an_eligible_request_is_granted_and_the_limit_goes_up(bot_any: Bot, lang: str) -> None:
    bot = bot_any
    chat = bot.chat(lang=lang)
    seller = await bot.seller(link=chat, stores=1)
    r = await ask(chat, lang)
    assert r.texts == [t("quota.confirm_store_quota", lang, before=1, after=11)]
    assert r.labels == [t("actions.confirm", lang), t("actions.cancel", lang)]
    assert (await account(bot, seller.id)).store_limit == 1
    r = await chat.press(t("actions.confirm", lang))
    assert r.texts == [t("quota.approved_store_quota", lang, before=1, after=11)]
    assert (await account(bot, seller.id)).store_limit == 11
    [request] = await bot.rows(QuotaRequest)
    assert (request.kind, request.status) == (RequestKind.STORE_QUOTA, RequestStatus.APPROVED)
    # and again, as often as needed
    await ask(chat, lang)
    r = await chat.press(t("actions.confirm", lang))
    assert r.texts == [t("quota.approved_store_quota", lang, before=11, after=21)]
    assert (await account(bot, seller.id)).store_limit == 21
    assert await bot.count(QuotaRequest, QuotaRequest.status == RequestStatus.APPROVED) == 2


@pytest.mark.parametrize("lang", LANGS)
async def test_listing_capacity_up_to_the_hard_cap_once(bot: Bot, lang: str) -> None:
    chat = bot.chat(lang=lang)
    seller = await bot.seller(link=chat, stores=1)
    r = await ask(chat, lang, "listing_capacity")
    assert r.texts == [t("quota.confirm_listing_capacity", lang, before=500, after=1000)]
    r = await chat.press(t("actions.confirm", lang))
    assert r.texts == [t("quota.approved_listing_capacity", lang, before=500, after=1000)]
    assert (await account(bot, seller.id)).listing_limit == 1000
    # at the cap, only more stores can be asked for: the account settles which limit
    limit = (await account(bot, seller.id)).store_limit
    r = await chat.send("/start quota")
    assert r.texts[0] == t("quota.only_kind", lang, other=t("quota.kind_listing_capacity", lang))
    assert {"zh": "每店1000个商品的最高上限", "en": "maximum of 1000 listings each"}[lang] in r.texts[1]
    after = limit + bot.policy.quota_step
    assert r.texts[2:] == [t("quota.confirm_store_quota", lang, before=limit, after=after)]


@pytest.mark.parametrize("lang", LANGS)
async def test_queued_when_auto_approve_is_off_and_not_asked_twice(bot: Bot, lang: str) -> None:
    await bot.restart(policy=Policy(auto_approve=False))
    chat = bot.chat(lang=lang)
    seller = await bot.seller(link=chat, stores=1)
    await ask(chat, lang)
    r = await chat.press(t("actions.confirm", lang))
    [request] = await bot.rows(QuotaRequest)
    assert request.status is RequestStatus.OPEN
    assert r.texts == [t("quota.queued", lang, request_id=request.id)]
    assert (await account(bot, seller.id)).store_limit == 1
    # asked again, the open request leaves only the other limit: the account settles which
    r = await chat.send("/start quota")
    assert r.texts[0] == t("quota.only_kind", lang, other=t("quota.kind_store_quota", lang))
    assert f"{request.id}" in r.texts[1]
    assert {"zh": "正在处理中", "en": "is already open"}[lang] in r.texts[1]
    assert r.says("quota.confirm_listing_capacity", lang, before=500, after=1000)
    await chat.send("/cancel")
    # my limits lists the open request
    r = await chat.send("/limits")
    assert f"{request.id}" in r.text and {"zh": "处理中", "en": "(open)"}[lang] in r.text


@pytest.mark.parametrize("lang", LANGS)
async def test_confirm_pressed_twice_raises_the_limit_once(bot_any: Bot, lang: str) -> None:
    bot = bot_any
    chat = bot.chat(lang=lang)
    seller = await bot.seller(link=chat, stores=1)
    await ask(chat, lang)
    confirm = chat.last.button(t("actions.confirm", lang))
    await chat.press_button(confirm)
    r = await chat.press_button(confirm)
    assert r.texts == [t("buttons.already_pressed", lang)]
    assert (await account(bot, seller.id)).store_limit == 11
    assert await bot.count(QuotaRequest) == 1


async def test_a_restart_between_verdict_and_confirm(bot: Bot) -> None:
    chat = bot.chat(lang="en")
    seller = await bot.seller(link=chat, stores=1)
    await ask(chat, "en")
    await bot.restart()
    r = await chat.press("Confirm")
    assert r.says("quota.approved_store_quota", "en", before=1, after=11)
    assert (await account(bot, seller.id)).store_limit == 11


async def test_a_verdict_gone_stale_is_checked_again_on_confirm(bot: Bot) -> None:
    chat = bot.chat(lang="en")
    seller = await bot.seller(link=chat, stores=1, store_limit=5)
    await ask(chat, "en")
    await bot.store(seller.id, "Sinking Ship", rating=Rating.POOR)
    r = await chat.press("Confirm")
    assert r.texts[0] == t("quota.not_eligible", "en")
    assert "“Sinking Ship” (poor)" in r.texts[1]
    assert (await account(bot, seller.id)).store_limit == 5


@pytest.mark.parametrize("lang", LANGS)
async def test_the_kind_typed_wrong_answers_a_question_and_junk(bot: Bot, lang: str) -> None:
    chat = bot.chat(lang=lang)
    await bot.seller(link=chat, stores=1)
    await chat.send("/start quota")
    r = await chat.send({"zh": "嗯", "en": "hmm"}[lang])
    assert r.texts == [t("flows.use_buttons", lang), t("quota.ask_kind", lang)]
    assert len(r.labels) == 3
    for junk in ("", "😀", "x" * 5000, "{{7*7}}"):
        r = await chat.send(junk)
        assert r.replies and "49" not in r.text
        assert await chat.asked() == [t("quota.ask_kind", lang)]
    r = await chat.send({"zh": "佣金是多少?", "en": "What is the commission?"}[lang])
    assert r.texts[1:] == [t("flows.resume", lang), t("quota.ask_kind", lang)]
    r = await chat.send({"zh": "店铺", "en": "more stores please"}[lang])
    assert r.texts == [t("quota.confirm_store_quota", lang, before=1, after=11)]
    r = await chat.send({"zh": "好", "en": "yes"}[lang])
    assert r.texts[-1] == t("quota.confirm_store_quota", lang, before=1, after=11)
    r = await chat.press(t("actions.cancel", lang))
    assert r.texts == [t("commands.cancelled_short", lang)]
    assert await bot.count(QuotaRequest) == 0


@pytest.mark.parametrize("lang", LANGS)
async def test_words_the_bot_understands_at_the_button_step_are_answered_and_the_step_asked_again(
    bot: Bot, lang: str
) -> None:
    chat = bot.chat(lang=lang)
    await bot.seller(link=chat, stores=1)
    await chat.send("/start quota")
    # Not shaped as a question, yet plainly about something the bot knows
    r = await chat.send({"zh": "忘记密码了", "en": "forgot my password"}[lang])
    assert r.texts[0] == bot.knowledge.render("password_reset", lang, bot.policy)
    assert r.texts[-2:] == [t("flows.resume", lang), t("quota.ask_kind", lang)]
    assert await chat.asked() == [t("quota.ask_kind", lang)]


@pytest.mark.parametrize("lang", LANGS)
async def test_a_request_naming_the_limit_is_not_asked_which_one(bot: Bot, lang: str) -> None:
    chat = bot.chat(lang=lang)
    await bot.seller(link=chat, stores=1)
    r = await chat.send({"zh": "帮我申请提高商品上限", "en": "please raise my listing limit"}[lang])
    assert r.texts[0] == t("understanding.on_it", lang, action=t("actions.quota", lang))
    assert r.texts[1:] == [t("quota.confirm_listing_capacity", lang, before=500, after=1000)]
    assert t("quota.ask_kind", lang) not in r.texts
