"""Every flow of the conversation core, end to end in a private chat (those that every way of
serving must pass are in test_conformance.py): a user's update through
the fake Bot API server, the real aiogram client (getUpdates), the processor and routers, the
core and the database, and the bot's messages, keyboards, edits and callback answers back."""

from __future__ import annotations

import re

from sqlalchemy import select

from bot.telegram.render import utf16_len
from services.cities import city_name
from services.explain import label
from services.models import PickupBooking, QuotaRequest, Store
from services.stores import import_store
from tests.telegram.harness import Harness, png, t


async def test_language_comes_from_the_telegram_app_then_from_lang(tg: Harness) -> None:
    zh = tg.private(language="zh-hans")
    assert (await zh.send("/start")).texts[0].startswith("您好")
    en = tg.private(language="en")
    assert (await en.send("/help")).texts[0].startswith("Here is what I can help with")
    turn = await zh.send("/lang")
    assert turn.labels == ["中文", "English"]
    turn = await zh.press("English")
    assert turn.texts == [t("commands.lang_set", "en")]


async def test_commands_menu_is_set_in_chinese_and_english(tg: Harness) -> None:
    commands = tg.fake.commands
    private_zh = {c["command"]: c["description"] for c in commands[("all_private_chats", "zh")]}
    private_en = {c["command"]: c["description"] for c in commands[("all_private_chats", "en")]}
    assert set(private_zh) == set(private_en) == {
        "start", "help", "lang", "cancel", "link", "stores", "limits", "agent",
    }  # fmt: skip
    assert private_zh["link"] == t("channel.commands.link", "zh")
    assert private_en["link"] == t("channel.commands.link", "en")
    # Everyone else (no language code) gets the default language, zh; groups the FAQ commands.
    assert commands[("all_private_chats", "")] == commands[("all_private_chats", "zh")]
    assert {c["command"] for c in commands[("all_group_chats", "en")]} == {"help", "lang", "agent"}


async def test_link_flow_with_the_code_from_the_mail(tg: Harness) -> None:
    from tests.conftest import make_account

    account = await make_account(tg.runtime.app.database, tg.runtime.settings.policy)
    bob = tg.private(language="en")
    turn = await bob.send("/link")
    assert t("link.ask_email", "en") in turn.texts
    turn = await bob.send(account.email)
    assert turn.texts[0].startswith("If that address belongs to a merchant account")
    assert turn.labels == [t("link.resend", "en"), t("link.other_email", "en")]
    mails = [m for m in await tg.mails() if m["To"] == account.email]
    code = re.search(r"\b(\d{6})\b", mails[-1].get_body(("plain",)).get_content()).group(1)
    turn = await bob.send(f"code: {code}")
    assert turn.texts == [t("link.linked", "en")]
    assert (await bob.send("/stores")).texts[0] == t("account.no_stores", "en")


async def test_icon_as_a_document_and_a_double_confirm_opens_one_store(tg: Harness) -> None:
    dan = tg.private(language="zh")
    seller = await tg.seller(dan, store_limit=2)
    await dan.send("/start open_store")
    turn = await dan.send("丹丹数码")
    turn = await dan.press(label("specialization", "electronics", "zh"))
    turn = await dan.document(png(700, 700), name="logo.png", mime_type="image/png")
    assert t("open_store.icon_ok", "zh", format="PNG", width=700, height=700) in turn.texts
    summary = turn.last
    confirm = t("actions.confirm", "zh")
    data = summary.button(confirm)["callback_data"]
    first = await dan.press(confirm)
    assert "丹丹数码" in first.text
    second = await dan.press_data(summary, data)
    assert second.texts == [t("buttons.already_pressed", "zh")]
    async with tg.sessions() as session:
        titles = (
            (await session.execute(select(Store.title).where(Store.account_id == seller.id))).scalars().all()
        )
    assert titles == ["丹丹数码"]


async def test_quota_request_from_the_limits(tg: Harness) -> None:
    erin = tg.private(language="en")
    seller = await tg.seller(erin)
    turn = await erin.send("/limits")
    assert "Your limits" in turn.text
    turn = await erin.press(t("actions.quota", "en"))
    assert turn.labels[:2] == [t("quota.kind_store_quota", "en"), t("quota.kind_listing_capacity", "en")]
    turn = await erin.press(t("quota.kind_store_quota", "en"))
    policy = tg.runtime.settings.policy
    before, after = seller.store_limit, seller.store_limit + policy.quota_step
    assert t("quota.confirm_store_quota", "en", before=before, after=after) in turn.texts
    turn = await erin.press(t("actions.confirm", "en"))
    assert turn.texts == [t("quota.approved_store_quota", "en", before=before, after=after)]
    async with tg.sessions() as session:
        requests = (await session.execute(select(QuotaRequest))).scalars().all()
    assert len(requests) == 1


async def test_password_reset_sends_the_link_to_the_registered_address(tg: Harness) -> None:
    fay = tg.private(language="en")
    seller = await tg.seller(fay)
    turn = await fay.send("I forgot my password")
    turn = await fay.press(t("actions.password_reset", "en"))
    assert turn.labels == [t("reset.send", "en"), t("actions.cancel", "en")]
    turn = await fay.press(t("reset.send", "en"))
    assert turn.texts[0].startswith("A password-reset link is on its way to your registered e-mail")
    assert [m["To"] for m in await tg.mails()] == [seller.email]


async def test_change_email_sends_a_confirmation_link_to_the_new_address(tg: Harness) -> None:
    gus = tg.private(language="en")
    seller = await tg.seller(gus)
    await gus.send("/start change_email")
    turn = await gus.send(seller.licence)
    assert turn.texts == [t("change_email.ask_new_email", "en")]
    turn = await gus.send("new-login@example.com")
    assert "new-login@example.com" in turn.text and t("actions.confirm", "en") in turn.labels
    turn = await gus.press(t("actions.confirm", "en"))
    assert turn.texts[0].startswith("A confirmation link has been sent to n***@example.com")
    assert "new-login@example.com" in [m["To"] for m in await tg.mails()]


async def test_pickup_booking(tg: Harness) -> None:
    hana = tg.private(language="en")
    await tg.seller(hana)
    turn = await hana.send("/start pickup")
    shenzhen = city_name("Shenzhen", "en")
    turn = await hana.press(shenzhen)
    assert "Pickup address" in turn.text
    turn = await hana.send("Nanshan District, Keji Road 1, Room 301")
    turn = await hana.send("13800138000")
    turn = await hana.send("5")
    assert len(turn.labels) == 3  # three dates to choose from
    date = turn.labels[0]
    turn = await hana.press(date)
    assert date in turn.text and t("actions.confirm", "en") in turn.labels
    turn = await hana.press(t("actions.confirm", "en"))
    assert turn.texts[0].startswith("Booked")
    async with tg.sessions() as session:
        assert len((await session.execute(select(PickupBooking))).scalars().all()) == 1


async def test_a_long_store_list_is_split_within_4096_characters(tg: Harness) -> None:
    ivy = tg.private(language="en")
    seller = await tg.seller(ivy, store_limit=200)
    titles = [f"Ivy Store Number {n:03d} Electronics and Gadgets" for n in range(120)]
    for title in titles:
        done = await import_store(
            sessions=tg.sessions,
            policy=tg.runtime.settings.policy,
            account_id=seller.id,
            title=title,
            specialization="electronics",
            listings=10,
            actor="test",
        )
        assert done.ok
    turn = await ivy.send("/stores")
    assert len(turn.messages) >= 2
    assert all(utf16_len(text) <= 4096 for text in turn.texts)
    joined = "\n".join(turn.texts)
    positions = [joined.index(title) for title in titles]
    assert positions == sorted(positions)  # every store, in order, none cut in half


async def test_handoff_agent_messages_are_delivered_and_cancel_returns_to_the_bot(tg: Harness) -> None:
    from services.handoff import agent_reply, list_handoffs

    jo = tg.private(language="en")
    turn = await jo.send("/agent")
    assert turn.texts[0].startswith("I've passed your conversation")
    assert (await jo.send("hello? anyone?")).messages == []  # the bot stays silent
    async with tg.sessions() as session:
        [handoff] = await list_handoffs(session)
    done = await agent_reply(
        sessions=tg.sessions, handoff_id=handoff.id, text="Hi, this is Mei from support.", agent="mei"
    )
    assert done.ok
    await tg.fake.wait_until(
        lambda: any(m.text == "Hi, this is Mei from support." for m in tg.fake.sent(jo.chat.id))
    )
    turn = await jo.send("/cancel")
    assert turn.texts == [t("handoff.left", "en")]
    assert (await jo.send("how much is the commission?")).messages  # the bot answers again


async def test_bad_input_gets_a_clear_answer_in_the_users_language(tg: Harness) -> None:
    kim = tg.private(language="zh")
    await kim.send("/start")
    turn = await kim.send("为什么" * 1000)
    assert turn.texts == [t("errors.too_long", "zh", limit=2000, length=3000)]
    sticker = {"file_id": "S1", "file_unique_id": "s1", "type": "regular", "width": 512, "height": 512}
    turn = await kim.other("sticker", {**sticker, "is_animated": False, "is_video": False})
    assert turn.texts == [t("channel.file_unsupported", "zh")]
    downloads_before = len(tg.fake.calls_of("getFile"))
    turn = await kim.document(b"x" * 10, name="scan.pdf", mime_type="application/pdf", size=25 * 1024 * 1024)
    assert turn.texts == [t("channel.file_too_large", "zh", size_mb="25", limit_mb="20")]
    assert len(tg.fake.calls_of("getFile")) == downloads_before  # refused before downloading

    # Callback data that is not one of the bot's buttons: answered, nothing else happens.
    menu = tg.fake.sent(kim.chat.id)[0]
    turn = await kim.press_data(menu, "zz:forged")
    assert turn.messages == [] and turn.answer == {"text": t("buttons.expired", "zh"), "show_alert": True}
    assert menu.edits == []
    # A button id the conversation does not know: the core says it expired; the message stays.
    turn = await kim.press_data(menu, "b:ffff")
    assert turn.texts[0] == t("buttons.expired", "zh")
    assert menu.edits == []
