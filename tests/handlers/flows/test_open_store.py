"""Opening a store: title → specialization → icon (a file, optional) → summary → confirm, in both
languages; every wrong title and icon explained in place; answers corrected from the summary;
no free slot; a repeated confirm; a restart before confirming; junk at every step."""

from __future__ import annotations

import pytest

from services.explain import label
from services.models import Store, Upload
from tests.conversation import Bot, Chat, png, t

LANGS = ["zh", "en"]
TITLE = {"zh": "深圳好物", "en": "Sunrise Gadgets"}
ICON_QUESTION = {"zh": "图标有什么要求?", "en": "what size should the icon be?"}


def spec(value: str, lang: str) -> str:
    """A specialization as a sentence shows it."""
    return label("specialization", value, lang)


def spec_button(value: str, lang: str) -> str:
    """A specialization as its button shows it: starting with a capital."""
    name = spec(value, lang)
    return name[:1].upper() + name[1:]


def ask_title(lang: str) -> str:
    return t("open_store.ask_title", lang, min=2, max=50)


def ask_icon(lang: str) -> str:
    return t("open_store.ask_icon", lang, min=550, max_mb="5")


def summary(lang: str, title: str, specialization: str, icon: str | None) -> str:
    return t("open_store.summary", lang, title=title, specialization=spec(specialization, lang), icon=icon)


async def start(bot: Bot, lang: str, **seller) -> tuple[Chat, int]:
    chat = bot.chat(lang=lang)
    account = await bot.seller(link=chat, **seller)
    r = await chat.send("/start open_store")
    free = seller.get("store_limit", 1) - seller.get("stores", 0)
    assert r.texts == [t("open_store.intro", lang, free=free), ask_title(lang)]
    return chat, account.id


async def stores(bot: Bot, account_id: int) -> list[Store]:
    return await bot.rows(Store, Store.account_id == account_id)


@pytest.mark.parametrize("lang", LANGS)
async def test_open_a_store_with_an_icon(bot_any: Bot, lang: str) -> None:
    bot = bot_any
    chat, account_id = await start(bot, lang)
    r = await chat.send(f"  {TITLE[lang]}  ")
    assert r.texts == [t("open_store.ask_specialization", lang)]
    assert (
        r.labels
        == {
            "zh": ["服装", "健康与美容", "电子产品", "成人用品", "其他"],
            "en": ["Apparel", "Health & beauty", "Electronics", "Adult", "Other"],
        }[lang]
    )
    r = await chat.press(spec_button("electronics", lang))
    assert r.texts == [ask_icon(lang)] and r.labels == [t("open_store.skip_icon", lang)]
    r = await chat.upload("logo.png", png(600, 600))
    assert r.texts == [
        t("open_store.icon_ok", lang, format="PNG", width=600, height=600),
        summary(lang, TITLE[lang], "electronics", "PNG 600×600"),
    ]
    assert r.labels == [
        t("actions.confirm", lang),
        t("open_store.edit_title", lang),
        t("open_store.edit_specialization", lang),
        t("open_store.edit_icon", lang),
        t("actions.cancel", lang),
    ]
    assert await stores(bot, account_id) == []  # nothing before the confirmation
    r = await chat.press(t("actions.confirm", lang))
    assert r.texts == [
        t("open_store.opened", lang, title=TITLE[lang], specialization=spec("electronics", lang), blockers=[])
    ]
    [store] = await stores(bot, account_id)
    assert (store.title, store.specialization.value, store.icon_format) == (TITLE[lang], "electronics", "PNG")
    assert await bot.count(Upload) == 0  # the upload is not kept once used
    assert await chat.asked() == []


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(
    ("title", "why"),
    [
        ("Joom好店", {"zh": "“Joom”字样", "en": "the word “Joom”"}),
        ("JOOM Official", {"zh": "“Joom”字样", "en": "the word “Joom”"}),
        ("A", {"zh": "店铺名称应为2到50个字符(当前1个)", "en": "must be 2 to 50 characters (it has 1)"}),
        ("x" * 51, {"zh": "当前51个", "en": "(it has 51)"}),
        # typed in lower case: the refusal names the store as it is written
        ("store 1", {"zh": "您已有名为“Store 1”的店铺", "en": "You already have a store called “Store 1”"}),
        ("www.best-shop.com", {"zh": "网址", "en": "a web address"}),
        ("http://x.cn/shop", {"zh": "网址", "en": "a web address"}),
        ("mail me at boss@shop.cn", {"zh": "电子邮箱地址", "en": "an e-mail address"}),
    ],
)
async def test_a_wrong_title_is_explained_and_asked_again(bot: Bot, lang: str, title: str, why: dict) -> None:
    chat, _ = await start(bot, lang, stores=1, store_limit=2)
    r = await chat.send(title)
    assert why[lang] in r.texts[0]
    assert r.texts[-1] == t("open_store.ask_title_again", lang)
    assert await chat.asked() == [t("open_store.ask_title", lang, min=2, max=50)]
    r = await chat.send(TITLE[lang])
    assert r.says("open_store.ask_specialization", lang)


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(
    ("name", "data", "why"),
    [
        (
            "logo.gif",
            png(600, 600, fmt="GIF"),
            {"zh": "必须是JPEG或PNG图片", "en": "must be a JPEG or PNG image"},
        ),
        (
            "logo.png",
            png(600, 400),
            {"zh": "必须是正方形,当前为600×400像素", "en": "must be square; this one is 600×400"},
        ),
        (
            "logo.png",
            png(300, 300),
            {"zh": "至少需要550×550像素", "en": "at least 550×550 pixels; this one is 300×300"},
        ),
        (
            "logo.png",
            b"this is text, not a picture",
            {"zh": "该文件是其他格式", "en": "this file is in another format"},
        ),
        ("logo.jpg", b"", {"zh": "文件是空的", "en": "the file is empty"}),
    ],
)
async def test_a_wrong_icon_is_explained_and_asked_again(
    bot: Bot, lang: str, name: str, data: bytes, why: dict
) -> None:
    chat, account_id = await start(bot, lang)
    await chat.send(TITLE[lang])
    await chat.press(spec_button("apparel", lang))
    r = await chat.upload(name, data)
    assert why[lang] in r.texts[0]
    assert r.texts[-1] == ask_icon(lang) and r.labels == [t("open_store.skip_icon", lang)]
    assert await chat.asked() == [ask_icon(lang)]
    r = await chat.upload("logo.jpg", png(800, 800, fmt="JPEG"))
    assert r.texts[0] == t("open_store.icon_ok", lang, format="JPEG", width=800, height=800)
    await chat.press(t("actions.confirm", lang))
    [store] = await stores(bot, account_id)
    assert store.icon_format == "JPEG"


@pytest.mark.parametrize("lang", LANGS)
async def test_skip_the_icon(bot: Bot, lang: str) -> None:
    chat, account_id = await start(bot, lang)
    await chat.send(TITLE[lang])
    await chat.press(spec_button("other", lang))
    r = await chat.press(t("open_store.skip_icon", lang))
    assert r.texts == [summary(lang, TITLE[lang], "other", None)]
    assert t("open_store.add_icon", lang) in r.labels
    r = await chat.press(t("actions.confirm", lang))
    blockers = [label("blocker", "icon_missing", lang)]
    assert r.texts == [
        t("open_store.opened", lang, title=TITLE[lang], specialization=spec("other", lang), blockers=blockers)
    ]
    [store] = await stores(bot, account_id)
    assert store.icon_format is None


@pytest.mark.parametrize("lang", LANGS)
async def test_correct_each_answer_from_the_summary(bot: Bot, lang: str) -> None:
    chat, account_id = await start(bot, lang, stores=1, store_limit=3)
    await chat.send("First Title")
    await chat.press(spec_button("apparel", lang))
    await chat.press(t("open_store.skip_icon", lang))
    # the title: a duplicate is refused in place, then back to the summary
    await chat.press(t("open_store.edit_title", lang))
    r = await chat.send("STORE 1")
    assert r.texts[-1] == t("open_store.ask_title_again", lang)
    r = await chat.send(TITLE[lang])
    assert r.texts == [summary(lang, TITLE[lang], "apparel", None)]
    # the specialization, typed this time
    await chat.press(t("open_store.edit_specialization", lang))
    r = await chat.send({"zh": "电子", "en": "Electronics"}[lang])
    assert r.texts == [summary(lang, TITLE[lang], "electronics", None)]
    # the icon: a bad one, then a good one
    await chat.press(t("open_store.add_icon", lang))
    r = await chat.upload("logo.png", png(100, 100))
    assert r.texts[-1] == ask_icon(lang)
    r = await chat.upload("logo.png", png(1000, 1000))
    assert r.texts[-1] == summary(lang, TITLE[lang], "electronics", "PNG 1000×1000")
    await chat.press(t("actions.confirm", lang))
    created = (await stores(bot, account_id))[-1]
    assert (created.title, created.specialization.value, created.icon_format) == (
        TITLE[lang],
        "electronics",
        "PNG",
    )


@pytest.mark.parametrize("lang", LANGS)
async def test_no_free_slot_is_refused_with_the_limit_and_an_offer_of_more(bot: Bot, lang: str) -> None:
    chat = bot.chat(lang=lang)
    await bot.seller(link=chat, stores=1)
    r = await chat.send("/start open_store")
    assert r.texts == [
        {
            "zh": "账户已有1个店铺,上限为1个(已关闭的店铺也计算在内)。"
            "如需开设更多店铺,请申请增加店铺数量,每次获批增加10个。",
            "en": "The account already has 1 store(s), the limit is 1 (closed stores count too). "
            "To open more, request more stores: each approved request adds 10.",
        }[lang],
        t("open_store.offer_quota", lang),
    ]
    assert r.labels == [t("actions.quota", lang)]
    assert await chat.asked() == []
    r = await chat.press(t("actions.quota", lang))
    assert r.says("quota.ask_kind", lang)


@pytest.mark.parametrize("lang", LANGS)
async def test_confirm_pressed_twice_opens_one_store(bot_any: Bot, lang: str) -> None:
    bot = bot_any
    chat, account_id = await start(bot, lang, store_limit=2)
    await chat.send(TITLE[lang])
    await chat.press(spec_button("adult", lang))
    await chat.press(t("open_store.skip_icon", lang))
    confirm = chat.last.button(t("actions.confirm", lang))
    r = await chat.press_button(confirm)
    assert r.says(
        "open_store.opened",
        lang,
        title=TITLE[lang],
        specialization=spec("adult", lang),
        blockers=[label("blocker", "icon_missing", lang)],
    )
    r = await chat.press_button(confirm)
    assert r.texts == [t("buttons.already_pressed", lang)]
    assert len(await stores(bot, account_id)) == 1


async def test_a_restart_before_confirming_keeps_every_answer_and_the_icon(bot_any: Bot) -> None:
    bot = bot_any
    chat, account_id = await start(bot, "en")
    await chat.send(TITLE["en"])
    await chat.press(spec_button("health_beauty", "en"))
    await chat.upload("logo.png", png(600, 600))
    confirm = chat.last.button("Confirm")
    await bot.restart()
    r = await chat.press_button(confirm)
    assert r.says("open_store.opened", "en", title=TITLE["en"], specialization="health & beauty", blockers=[])
    [store] = await stores(bot, account_id)
    assert store.icon_format == "PNG" and store.icon_size is not None


@pytest.mark.parametrize("lang", LANGS)
async def test_questions_and_wrong_answers_at_the_later_steps(bot: Bot, lang: str) -> None:
    chat, account_id = await start(bot, lang)
    await chat.send(TITLE[lang])
    # a store name typed where the specialization is asked: not a question, so explained
    r = await chat.send({"zh": "我的新店", "en": "my new shop"}[lang])
    options = [spec(s, lang) for s in ("apparel", "health_beauty", "electronics", "adult", "other")]
    assert r.texts[0] == t("open_store.specialization_unknown", lang, options=options)
    assert len(r.labels) == 5  # the options again, at hand
    await chat.press(spec_button("electronics", lang))
    # a question at the icon step
    r = await chat.send(ICON_QUESTION[lang])
    assert r.texts == [
        bot.knowledge.render("open_store", lang, bot.policy),
        t("flows.resume", lang),
        ask_icon(lang),
    ]
    # words instead of a file
    r = await chat.send({"zh": "稍后再传", "en": "later"}[lang])
    assert r.texts == [t("open_store.icon_needs_file", lang)]
    assert r.labels == [t("open_store.skip_icon", lang)]
    await chat.press(t("open_store.skip_icon", lang))
    # words at the summary: the buttons again
    r = await chat.send({"zh": "好的", "en": "ok"}[lang])
    assert r.texts == [t("flows.use_buttons", lang), summary(lang, TITLE[lang], "electronics", None)]
    await chat.press(t("actions.confirm", lang))
    assert len(await stores(bot, account_id)) == 1


@pytest.mark.parametrize("lang", LANGS)
async def test_junk_at_every_step(bot: Bot, lang: str) -> None:
    chat, account_id = await start(bot, lang)
    steps = [
        ("title", lambda: chat.send("{{7*7}}")),
        ("specialization", lambda: chat.press(spec_button("electronics", lang))),
        ("icon", lambda: chat.press(t("open_store.skip_icon", lang))),
        ("summary", None),
    ]
    for step, advance in steps:
        question = await chat.asked()
        for junk in ("", "😀😀", "x" * 5000, "'; DROP TABLE stores; --"):
            if step == "title" and junk.startswith("'"):
                continue  # a fine title: tested elsewhere
            r = await chat.send(junk)
            assert r.replies and "49" not in r.text, (step, junk)
            assert await chat.asked() == question, (step, junk)
        # (at the summary, the matcher takes the SQL for a question about accounts, in English)
        now = (await chat.conversation()).language
        r = await chat.press_id("f00d")
        assert r.texts[0] == t("buttons.expired", now)
        if step != "icon":
            r = await chat.upload("logo.png", png(600, 600))
            assert r.texts[0] == t("files.unexpected", now), step
        assert await chat.asked() == question
        if advance is not None:
            await advance()
    # the title typed as template code comes back literally, never evaluated
    assert "{{7*7}}" in chat.last.text and "49" not in chat.last.text
    r = await chat.press(t("actions.confirm", now))
    assert "{{7*7}}" in r.text
    [store] = await stores(bot, account_id)
    assert store.title == "{{7*7}}"


@pytest.mark.parametrize("lang", LANGS)
async def test_cancel_from_the_summary(bot: Bot, lang: str) -> None:
    chat, account_id = await start(bot, lang)
    await chat.send(TITLE[lang])
    await chat.press(spec_button("electronics", lang))
    await chat.upload("logo.png", png(600, 600))
    r = await chat.press(t("actions.cancel", lang))
    assert r.texts == [t("commands.cancelled_short", lang)]
    assert await stores(bot, account_id) == [] and await chat.asked() == []


async def test_a_button_of_an_abandoned_run_of_the_flow_does_not_confirm_the_new_one(bot: Bot) -> None:
    chat, account_id = await start(bot, "en", store_limit=2)
    await chat.send("First Title")
    await chat.press(spec_button("apparel", "en"))
    await chat.press(t("open_store.skip_icon", "en"))
    old_confirm = chat.last.button("Confirm")  # under a summary that says "First Title"
    await chat.send("/cancel")
    await chat.send("/start open_store")
    await chat.send("Second Title")
    await chat.press(spec_button("other", "en"))
    await chat.press(t("open_store.skip_icon", "en"))
    r = await chat.press_button(old_confirm)
    assert r.texts[0] == t("buttons.expired", "en")
    assert await stores(bot, account_id) == []
    r = await chat.press("Confirm")
    assert [s.title for s in await stores(bot, account_id)] == ["Second Title"]


@pytest.mark.parametrize("lang", LANGS)
async def test_an_icon_deleted_while_the_flow_waited_is_asked_for_again(bot: Bot, lang: str) -> None:
    from services.housekeeping import purge_expired

    chat, account_id = await start(bot, lang)
    await chat.send(TITLE[lang])
    await chat.press(spec_button("electronics", lang))
    r = await chat.upload("logo.png", png(600, 600))
    assert r.texts[-1] == summary(lang, TITLE[lang], "electronics", "PNG 600×600")
    # the seller comes back after a month: housekeeping has deleted the unused icon
    bot.clock.advance(days=31)
    purged = await purge_expired(sessions=bot.sessions, policy=bot.policy, keep_days=30, now=bot.clock.now)
    assert purged.uploads == 1
    r = await chat.press(t("actions.confirm", lang))
    assert r.texts == [t("open_store.icon_lost", lang), ask_icon(lang)]
    assert await stores(bot, account_id) == []  # not opened without the icon the summary showed
    r = await chat.upload("logo.png", png(700, 700))
    assert r.texts[-1] == summary(lang, TITLE[lang], "electronics", "PNG 700×700")
    await chat.press(t("actions.confirm", lang))
    [store] = await stores(bot, account_id)
    assert store.icon_format == "PNG"
