"""Shipping: in a pickup city, booking details (address → phone → parcels → date) each checked and
corrected in place, a summary, a booking on confirm; elsewhere the SF Express freight-collect
instructions with the warehouse address from the policy; an unknown city; repeats, a restart, junk."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from services.models import PickupBooking
from services.pickup import china_today
from services.policy import Policy
from tests.conversation import Bot, Chat, png, t

LANGS = ["zh", "en"]
SHENZHEN = {"zh": "深圳", "en": "Shenzhen"}
ADDRESS = {"zh": "南山区科技园南路1号A栋301", "en": "Room 301, Building A, 1 Keji Road, Nanshan"}


def tomorrow(bot: Bot) -> date:
    return china_today(bot.clock.now) + timedelta(days=1)


def summary(lang: str, **answers) -> str:
    return t("pickup.summary", lang, city="Shenzhen", **answers)


async def start(bot: Bot, lang: str) -> tuple[Chat, int]:
    chat = bot.chat(lang=lang)
    account = await bot.seller(link=chat)
    r = await chat.send({"zh": "怎么预约上门揽收?", "en": "how do I book a pickup?"}[lang])
    assert r.texts == [bot.knowledge.render("shipping_pickup", lang, bot.policy)]
    r = await chat.press(t("actions.pickup", lang))
    assert r.texts == [t("pickup.ask_city", lang, cities=["Shenzhen"])]
    assert r.labels == [SHENZHEN[lang]]
    return chat, account.id


@pytest.mark.parametrize("lang", LANGS)
async def test_book_a_door_pickup_correcting_each_wrong_answer_in_place(bot: Bot, lang: str) -> None:
    chat, account_id = await start(bot, lang)
    r = await chat.send(SHENZHEN[lang])
    assert r.texts == [
        t("pickup.door_pickup", lang, city="Shenzhen"),
        t("pickup.ask_address", lang, city="Shenzhen"),
    ]
    r = await chat.send("No.1")  # too short
    assert {"zh": "地址(长度不符合要求)", "en": "address (too short or too long)"}[lang] in r.texts[0]
    assert await chat.asked() == [t("pickup.ask_address", lang, city="Shenzhen")]
    r = await chat.send(ADDRESS[lang])
    assert r.texts == [t("pickup.ask_phone", lang)]
    r = await chat.send("12345")
    assert {"zh": "联系电话(不是有效的中国大陆手机或座机号码)", "en": "phone (not a mainland-China"}[
        lang
    ] in r.text
    assert await chat.asked() == [t("pickup.ask_phone", lang)]
    r = await chat.send("+86 138-0013-8000")
    assert r.texts == [t("pickup.ask_parcels", lang)]
    r = await chat.send("0")
    assert {"zh": "包裹数量(超出范围)", "en": "parcel count (out of range)"}[lang] in r.text
    r = await chat.send({"zh": "很多", "en": "a lot"}[lang])
    assert r.texts == [t("pickup.parcels_not_number", lang)]
    r = await chat.send({"zh": "三箱", "en": "3 boxes"}[lang])
    assert r.texts[0] == t("pickup.ask_date", lang) and len(r.labels) == 3
    r = await chat.send("2020-01-01")
    assert {"zh": "日期(已经过去)", "en": "date (in the past)"}[lang] in r.texts[0]
    assert len(r.labels) == 3  # the date buttons again, at hand
    far = china_today(bot.clock.now) + timedelta(days=30)
    r = await chat.send(far.isoformat())
    assert {"zh": "日期(太远)", "en": "date (too far ahead)"}[lang] in r.texts[0]
    r = await chat.send({"zh": "下辈子", "en": "someday"}[lang])
    assert r.texts[0] == t("pickup.date_not_date", lang)
    r = await chat.send({"zh": "明天", "en": "tomorrow"}[lang])
    answers = dict(address=ADDRESS[lang], phone="13800138000", parcels=3, date=tomorrow(bot).isoformat())
    assert r.texts == [summary(lang, **answers)]
    assert await bot.count(PickupBooking) == 0
    r = await chat.press(t("actions.confirm", lang))
    [booking] = await bot.rows(PickupBooking)
    assert r.texts == [
        t("pickup.booked", lang, booking_id=booking.id, city="Shenzhen", **answers),
    ]
    assert (booking.account_id, booking.city, booking.address, booking.phone, booking.parcels) == (
        account_id,
        "Shenzhen",
        ADDRESS[lang],
        "13800138000",
        3,
    )
    assert booking.pickup_date == tomorrow(bot) and await chat.asked() == []


@pytest.mark.parametrize("lang", LANGS)
async def test_correct_any_answer_from_the_summary(bot: Bot, lang: str) -> None:
    chat, _ = await start(bot, lang)
    await chat.press(SHENZHEN[lang])
    await chat.send(ADDRESS[lang])
    await chat.send("13800138000")
    await chat.send("2")
    await chat.press(chat.last.labels[0])  # tomorrow
    day = tomorrow(bot).isoformat()
    r = await chat.press(t("pickup.edit_parcels", lang))
    assert r.texts == [t("pickup.ask_parcels", lang)]
    r = await chat.send({"zh": "五", "en": "5"}[lang])
    assert r.texts == [summary(lang, address=ADDRESS[lang], phone="13800138000", parcels=5, date=day)]
    await chat.press(t("pickup.edit_phone", lang))
    r = await chat.send("010-1234-5678")
    assert r.texts == [summary(lang, address=ADDRESS[lang], phone="01012345678", parcels=5, date=day)]
    await chat.press(t("pickup.edit_address", lang))
    r = await chat.send("{{7*7}} Science Park Road 9")
    assert "{{7*7}} Science Park Road 9" in r.text and "49" not in r.text
    await chat.press(t("pickup.edit_date", lang))
    later = (china_today(bot.clock.now) + timedelta(days=3)).isoformat()
    r = await chat.press(later)
    assert r.texts == [
        summary(lang, address="{{7*7}} Science Park Road 9", phone="01012345678", parcels=5, date=later)
    ]
    r = await chat.press(t("actions.confirm", lang))
    assert "{{7*7}} Science Park Road 9" in r.text
    [booking] = await bot.rows(PickupBooking)
    assert (booking.parcels, booking.phone, booking.pickup_date.isoformat()) == (5, "01012345678", later)


@pytest.mark.parametrize("lang", LANGS)
async def test_another_city_gets_the_sf_express_instructions_from_the_policy(bot: Bot, lang: str) -> None:
    await bot.restart(
        policy=Policy(
            pickup_cities=["Shenzhen", "Guangzhou"],
            warehouse_address="Joom Logistics, 8 Test Road, Longhua, Shenzhen",
            warehouse_address_zh="深圳市龙华区测试路8号 Joom物流仓",
        )
    )
    chat = bot.chat(lang=lang)
    await bot.seller(link=chat)
    r = await chat.send("/start pickup")
    assert r.labels == [{"zh": "深圳", "en": "Shenzhen"}[lang], {"zh": "广州", "en": "Guangzhou"}[lang]]
    r = await chat.send({"zh": "北京", "en": "Beijing"}[lang])
    warehouse = {
        "zh": "深圳市龙华区测试路8号 Joom物流仓",
        "en": "Joom Logistics, 8 Test Road, Longhua, Shenzhen",
    }
    assert r.texts == [
        t(
            "pickup.send_by_sf",
            lang,
            city="Beijing",
            cities=["Shenzhen", "Guangzhou"],
            warehouse=warehouse[lang],
        )
    ]
    assert warehouse[lang] in r.text and "顺丰到付" in r.text
    assert await chat.asked() == [] and await bot.count(PickupBooking) == 0
    # the second pickup city of the policy gets door pickup
    await chat.send("/start pickup")
    r = await chat.press({"zh": "广州", "en": "Guangzhou"}[lang])
    assert r.texts[0] == t("pickup.door_pickup", lang, city="Guangzhou")


@pytest.mark.parametrize("lang", LANGS)
async def test_an_unknown_city_is_explained_and_asked_again(bot: Bot, lang: str) -> None:
    chat, _ = await start(bot, lang)
    r = await chat.send({"zh": "火星", "en": "Atlantis"}[lang])
    assert r.texts[0] == t("pickup.city_unknown", lang, cities=["Shenzhen"])
    assert r.labels == [SHENZHEN[lang]]
    assert await chat.asked() == [t("pickup.ask_city", lang, cities=["Shenzhen"])]
    r = await chat.send("shenzhen")
    assert r.texts[0] == t("pickup.door_pickup", lang, city="Shenzhen")


async def test_confirm_pressed_twice_books_once(bot_any: Bot) -> None:
    bot = bot_any
    chat, _ = await start(bot, "en")
    await chat.press("Shenzhen")
    for answer in (ADDRESS["en"], "13800138000", "1", "tomorrow"):
        await chat.send(answer)
    confirm = chat.last.button("Confirm")
    await chat.press_button(confirm)
    r = await chat.press_button(confirm)
    assert r.texts == [t("buttons.already_pressed", "en")]
    assert await bot.count(PickupBooking) == 1


async def test_a_restart_in_the_middle_of_the_details(bot: Bot) -> None:
    chat, _ = await start(bot, "zh")
    await chat.press("深圳")
    await chat.send(ADDRESS["zh"])
    await bot.restart()
    for answer in ("13800138000", "2", "明天"):
        await chat.send(answer)
    r = await chat.press("确认")
    assert r.texts[0].startswith("预约成功")
    assert await bot.count(PickupBooking) == 1


@pytest.mark.parametrize("lang", LANGS)
async def test_questions_and_junk_at_every_step(bot: Bot, lang: str) -> None:
    chat, _ = await start(bot, lang)
    question = {"zh": "哪些城市可以上门揽收?", "en": "which cities have door pickup?"}[lang]
    steps = [
        ("city", SHENZHEN[lang]),
        ("address", ADDRESS[lang]),
        ("phone", "13800138000"),
        ("parcels", "4"),
        ("date", {"zh": "后天", "en": "tomorrow"}[lang]),
        ("summary", None),
    ]
    for step, answer in steps:
        r = await chat.send(question)
        assert r.texts[0] == bot.knowledge.render("shipping_pickup", lang, bot.policy), step
        assert r.texts[1] == t("flows.resume", lang)
        asking = r.texts[2:]
        for junk in ("", "😀", "x" * 5000, "{{7*7}}"):
            if step == "address" and junk == "{{7*7}}":
                continue  # a (too short) address: explained, tested above
            r = await chat.send(junk)
            assert r.replies and "49" not in r.text, (step, junk)
            assert await chat.asked() == asking, (step, junk)
        r = await chat.upload("label.png", png(600, 600))
        assert r.texts[0] == t("files.unexpected", lang)
        r = await chat.press_id("beef")
        assert r.texts[0] == t("buttons.expired", lang)
        if answer is not None:
            await chat.send(answer)
    r = await chat.press(t("actions.cancel", lang))
    assert r.texts == [t("commands.cancelled_short", lang)]
    assert await bot.count(PickupBooking) == 0


@pytest.mark.parametrize("lang", LANGS)
async def test_another_city_needs_no_account(bot: Bot, lang: str) -> None:
    chat = bot.chat(lang=lang)  # not linked
    r = await chat.send("/start pickup")
    assert r.texts == [t("pickup.ask_city", lang, cities=["Shenzhen"])]
    r = await chat.send({"zh": "北京", "en": "Beijing"}[lang])
    warehouse = bot.policy.warehouse_address_zh if lang == "zh" else bot.policy.warehouse_address
    assert r.texts == [t("pickup.send_by_sf", lang, city="Beijing", cities=["Shenzhen"], warehouse=warehouse)]
    assert await chat.asked() == []
    assert await bot.mails() == [] and await bot.count(PickupBooking) == 0


@pytest.mark.parametrize("lang", LANGS)
async def test_door_pickup_links_the_account_first_and_keeps_the_city(bot: Bot, lang: str) -> None:
    chat = bot.chat(lang=lang)  # not linked
    account = await bot.seller(email="owner@shop.example")
    await chat.send("/start pickup")
    r = await chat.send(SHENZHEN[lang])
    assert r.texts == [
        t("pickup.door_pickup", lang, city="Shenzhen"),
        t("link.intro_for", lang, action=t("actions.pickup", lang)),
        t("link.ask_email", lang),
    ]
    await chat.send("owner@shop.example")
    await bot.restart()  # a restart while linking loses neither the link nor the city
    r = await chat.send(await bot.link_code("owner@shop.example"))
    # linked, and the booking goes on at the address: the city is not asked again
    assert r.texts == [t("link.linked", lang), t("pickup.ask_address", lang, city="Shenzhen")]
    await chat.send(ADDRESS[lang])
    await chat.send("13800138000")
    await chat.send("2")
    await chat.send(tomorrow(bot).isoformat())
    r = await chat.press(t("actions.confirm", lang))
    [booking] = await bot.rows(PickupBooking)
    assert (booking.account_id, booking.city, booking.parcels) == (account.id, "Shenzhen", 2)
    assert r.texts == [
        t(
            "pickup.booked",
            lang,
            booking_id=booking.id,
            city="Shenzhen",
            address=ADDRESS[lang],
            phone=booking.phone,
            parcels=2,
            date=tomorrow(bot).isoformat(),
        )
    ]


async def test_cancel_while_linking_forgets_the_pickup(bot: Bot) -> None:
    chat = bot.chat(lang="en")
    await bot.seller(email="owner@shop.example")
    await chat.send("/start pickup")
    await chat.send("Shenzhen")
    await chat.send("/cancel")
    await chat.send("/link")
    await chat.send("owner@shop.example")
    r = await chat.send(await bot.link_code("owner@shop.example"))
    assert r.texts == [t("link.linked", "en")]  # no pickup questions after a plain /link
    assert await chat.asked() == []
