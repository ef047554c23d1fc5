"""Questions the knowledge base could not answer before, as a seller sees the replies: uploading
KYC identity documents, a failed login, raising the listing limit, and two kinds of question the
bot declines by saying where to go instead — a buyer asking about their own order (Joom's buyer
support in the app) and a question about another marketplace (that platform's own support).

The phrasings are written for these tests: neither the dev set's nor the knowledge base's."""

from __future__ import annotations

import pytest

from handlers.understanding import MENU_INTENTS
from tests.conversation import Bot, t

LANGS = ["zh", "en"]

KYC_UPLOADS = {
    "zh": ["法人拿着身份证拍的照片传到后台哪个地方", "最终受益人的证件扫描件在哪提交"],
    "en": [
        "where in the panel do i upload the legal rep's id scan",
        "how do i hand in the ubo passport copy",
    ],
}
LOGIN_FAILED = {
    "zh": ["商家后台一直提示登录失败", "登录失败了进不去怎么办"],
    "en": ["login failed again on the merchant site", "my login keeps failing, what do i do"],
}
# A request that names the listing limit ("product", 商品) starts the increase at its verdict.
RAISE_LISTINGS = {
    "zh": ["帮我把商品上限提到1000个", "我想把商品数量上限调高到1000", "帮我提高一下单店商品上限"],
    "en": [
        "rise listings cap to 1000 please",
        "pls rise my listing limit to 1000",
        "please raise the listings per store limit",
    ],
}
BUYERS = {
    "zh": ["前几天在joom下单的包包啥时候能到", "付完钱了订单还是显示待付款", "卖家一直不给我发货怎么办"],
    "en": [
        "when will the bag i ordered on joom arrive",
        "money is gone from my card yet the order says not paid",
        "seller not shipping my stuff",
    ],
}
OTHER_PLATFORMS = {
    "zh": ["ozon卖家收款账户咋绑定", "在wildberries怎么设置收款银行卡"],
    "en": ["how do i bind a bank account for payouts on ozon", "link payoneer to my shopee shop"],
}
WHERE_TO_GO = {
    "buyer_orders": {
        "zh": "在 Joom App 里联系 Joom 的买家客服",
        "en": "contact Joom's buyer support in the Joom app",
    },
    "other_platforms": {"zh": "请咨询该平台的卖家客服", "en": "ask that platform's seller support"},
}


@pytest.mark.parametrize("lang", LANGS)
async def test_uploading_identity_documents_gets_the_kyc_answer_that_says_where(bot: Bot, lang: str) -> None:
    answer = bot.knowledge.render("kyc", lang, bot.policy)
    # where the documents are uploaded: the KYC documents section of the merchant panel
    assert {"zh": "【KYC文件】", "en": "KYC documents"}[lang] in answer
    for n, question in enumerate(KYC_UPLOADS[lang]):
        r = await bot.chat(f"seller{n}", lang=lang).send(question)
        assert r.texts == [answer], question


@pytest.mark.parametrize("lang", LANGS)
async def test_a_failed_login_gets_the_reset_answer_and_its_button(bot: Bot, lang: str) -> None:
    for n, question in enumerate(LOGIN_FAILED[lang]):
        chat = bot.chat(f"seller{n}", lang=lang)
        r = await chat.send(question)
        assert r.texts == [bot.knowledge.render("password_reset", lang, bot.policy)], question
        assert r.labels == [t("actions.password_reset", lang)]
        # the button starts the reset: an unlinked chat is asked for the address
        r = await chat.press(t("actions.password_reset", lang))
        assert r.says("reset.ask_email", lang)


@pytest.mark.parametrize("lang", LANGS)
async def test_raising_the_listing_limit_goes_straight_to_the_listing_request(bot: Bot, lang: str) -> None:
    for n, question in enumerate(RAISE_LISTINGS[lang]):
        chat = bot.chat(f"seller{n}", lang=lang)
        await bot.seller(link=chat, stores=1, email=f"s{n}@shop.example")
        r = await chat.send(question)
        assert r.texts[0] == t("understanding.on_it", lang, action=t("actions.quota", lang)), question
        # the limit is named, so the seller is not asked which one
        assert t("quota.ask_kind", lang) not in r.texts
        confirm = t(
            "quota.confirm_listing_capacity",
            lang,
            before=bot.policy.listing_limit,
            after=bot.policy.listing_hard_cap,
        )
        assert r.texts[-1].startswith(confirm), r.texts
        # and the flow waits at that confirmation
        assert (await chat.asked())[-1].startswith(confirm)


@pytest.mark.parametrize("lang", LANGS)
async def test_a_question_about_raising_the_listing_limit_gets_the_increase_answer(
    bot: Bot, lang: str
) -> None:
    r = await bot.chat(lang=lang).send(
        {"zh": "商品上限能加到1000吗", "en": "can the product cap be raised to 1000?"}[lang]
    )
    assert r.texts == [bot.knowledge.render("quota_increase", lang, bot.policy)]
    assert r.labels == [t("actions.quota", lang)]


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(
    ("redirect", "questions"), [("buyer_orders", BUYERS), ("other_platforms", OTHER_PLATFORMS)]
)
async def test_a_question_the_bot_declines_says_where_to_go_instead(
    bot: Bot, lang: str, redirect: str, questions: dict[str, list[str]]
) -> None:
    reply = bot.knowledge.render(redirect, lang, bot.policy)
    assert WHERE_TO_GO[redirect][lang] in reply
    chat = bot.chat(lang=lang)
    for question in questions[lang]:
        r = await chat.send(question)
        # the reply that says where to go, with nothing to press: there is nothing to do here
        assert r.texts == [reply], question
        assert r.labels == []
    # a deliberate reply is not a miss: no person is offered after several of them
    assert not any(turn.decision == "fallback" for turn in await chat.turns())
    r = await chat.send({"zh": "今天天气怎么样", "en": "what's the weather in Paris"}[lang])
    topics = [bot.knowledge.intents[i].title[lang] for i in MENU_INTENTS]
    assert r.says("understanding.fallback", lang, topics=topics)
