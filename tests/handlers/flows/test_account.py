"""My stores and my limits (with open requests), in both languages, private and linked only."""

from __future__ import annotations

import pytest

from services.models import Rating
from services.policy import Policy
from tests.conversation import Bot, t

LANGS = ["zh", "en"]


@pytest.mark.parametrize("lang", LANGS)
async def test_my_stores_lists_each_store_with_what_stops_it_selling(bot: Bot, lang: str) -> None:
    chat = bot.chat(lang=lang)
    seller = await bot.seller(link=chat, store_limit=5)
    await bot.store(seller.id, "Gadget Hub", listings=120)
    await bot.store(seller.id, "Old Outlet", rating=Rating.POOR, banned_days_ago=30, specialization=None)
    r = await chat.send("/stores")
    lines = r.texts[0].splitlines()
    expected = {
        "zh": [
            "• Gadget Hub —— 电子产品,评级一般,120个商品,营业中;暂不能销售:店铺还没有图标",
            "• Old Outlet —— 未选择专营类型,评级较差,0个商品,已封禁;暂不能销售:店铺还没有图标、店铺已关闭",
        ],
        "en": [
            "• Gadget Hub — electronics, rating average, 120 listings, open; "
            "cannot sell yet: the store has no icon",
            "• Old Outlet — no specialization, rating poor, 0 listings, banned; "
            "cannot sell yet: the store has no icon and the store is closed",
        ],
    }[lang]
    for line in expected:
        assert line in lines, lines
    # asked in words, the seller's own stores are listed at once (not the general article)
    r = await chat.send({"zh": "我的店铺有哪些", "en": "show my stores"}[lang])
    assert "Gadget Hub" in r.text and "Old Outlet" in r.text
    # and the button of a store-management answer leads here too
    r = await chat.send({"zh": "怎么关闭店铺", "en": "can I close a store"}[lang])
    assert r.texts == [bot.knowledge.render("store_management", lang, bot.policy)]
    r = await chat.press(t("actions.stores", lang))
    assert "Gadget Hub" in r.text


@pytest.mark.parametrize("lang", LANGS)
async def test_no_stores_yet_offers_to_open_one(bot: Bot, lang: str) -> None:
    chat = bot.chat(lang=lang)
    await bot.seller(link=chat)
    r = await chat.send("/stores")
    assert r.texts == [t("account.no_stores", lang)]
    r = await chat.press(t("actions.open_store", lang))
    assert r.says("open_store.intro", lang, free=1)


@pytest.mark.parametrize("lang", LANGS)
async def test_my_limits_with_an_open_request(bot: Bot, lang: str) -> None:
    await bot.restart(policy=Policy(auto_approve=False))
    chat = bot.chat(lang=lang)
    await bot.seller(link=chat, stores=1, store_limit=3)
    r = await chat.send("/limits")
    assert {"zh": "店铺:已用1个,上限3个(还可开2个)", "en": "Stores: 1 of 3 used (2 free)"}[lang] in r.text
    assert {"zh": "每店商品上限:500个(最高1000个)", "en": "Listings per store: 500 (the maximum is 1000)"}[
        lang
    ] in r.text
    assert r.labels == [t("actions.quota", lang)]
    await chat.press(t("actions.quota", lang))
    await chat.press(t("quota.kind_store_quota", lang))
    await chat.press(t("actions.confirm", lang))
    r = await chat.send("/limits")
    assert {"zh": "处理中的申请:编号1 增加店铺数量(处理中)", "en": "Open requests: no. 1 more stores (open)"}[
        lang
    ] in r.text


@pytest.mark.parametrize("lang", LANGS)
async def test_my_limits_when_not_eligible(bot: Bot, lang: str) -> None:
    chat = bot.chat(lang=lang)
    await bot.seller(link=chat, stores=1, rating=Rating.CRITICAL)
    r = await chat.send({"zh": "我的额度", "en": "my limits"}[lang])  # answered from the account
    assert {"zh": "目前不符合申请提高上限的条件", "en": "does not meet the conditions for an increase"}[
        lang
    ] in r.text
    assert r.labels == []
