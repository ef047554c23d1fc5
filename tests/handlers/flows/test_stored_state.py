"""A seller mid-flow while a new version is deployed: the step, the answers, the buttons and the
flow waiting for a link that an earlier version stored (plain JSON, with today's step names)
load, and the flow goes on where it was; an answer this version no longer knows is dropped."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from services.models import Account, Conversation, PickupBooking
from services.pickup import china_today
from tests.conversation import Bot, Chat, t

LANGS = ["zh", "en"]
ADDRESS = "Room 301, Building A, 1 Keji Road, Nanshan"


async def left_by_an_earlier_version(
    bot: Bot, chat: Chat, *, flow: str, step: str, data: dict[str, Any], **state: Any
) -> None:
    """Put the chat's conversation where an earlier version of the bot left it, in its form."""
    await chat.send("/help")  # the conversation's row
    async with bot.sessions() as session, session.begin():
        await session.execute(
            update(Conversation)
            .where(Conversation.chat_id == chat.chat_id, Conversation.user_id == chat.user)
            .values(flow=flow, step=step, state={"data": data, **state})
        )


@pytest.mark.parametrize("lang", LANGS)
async def test_a_pickup_half_answered_goes_on_with_the_answers_stored(bot: Bot, lang: str) -> None:
    chat = bot.chat(lang=lang)
    await bot.seller(link=chat)
    data = {"flow_id": "0ld5tate", "city": "Shenzhen", "address": ADDRESS, "answer_of_old": "dropped"}
    await left_by_an_earlier_version(bot, chat, flow="pickup", step="phone", data=data)
    r = await chat.send("13800138000")
    assert r.texts == [t("pickup.ask_parcels", lang)]
    await chat.send("2")
    r = await chat.press(chat.last.labels[0])
    tomorrow = (china_today(bot.clock.now) + timedelta(days=1)).isoformat()
    answers = dict(address=ADDRESS, phone="13800138000", parcels=2, date=tomorrow)
    assert r.texts == [t("pickup.summary", lang, city="Shenzhen", **answers)]
    r = await chat.press(t("actions.confirm", lang))
    [booking] = await bot.rows(PickupBooking)
    assert r.texts == [t("pickup.booked", lang, booking_id=booking.id, city="Shenzhen", **answers)]


@pytest.mark.parametrize("lang", LANGS)
async def test_a_button_of_the_stored_summary_still_confirms(bot: Bot, lang: str) -> None:
    chat = bot.chat(lang=lang)
    seller = await bot.seller(link=chat, stores=1)
    confirm = {"flow": "quota", "step": "confirm", "run": "0ld5tate", "value": "confirm"}
    await left_by_an_earlier_version(
        bot,
        chat,
        flow="quota",
        step="confirm",
        data={"flow_id": "0ld5tate", "kind": "store_quota", "before": 1, "after": 11},
        buttons={"1c0f": {"action": "choice", "value": confirm, "group": 1, "label": "Confirm"}},
        group_seq=1,
    )
    r = await chat.press_id("1c0f")
    assert r.texts == [t("quota.approved_store_quota", lang, before=1, after=11)]
    [account] = await bot.rows(Account, Account.id == seller.id)
    assert account.store_limit == 11


@pytest.mark.parametrize("lang", LANGS)
async def test_a_flow_waiting_for_the_link_goes_on_with_what_it_kept(bot: Bot, lang: str) -> None:
    chat = bot.chat(lang=lang)
    await bot.seller(email="owner@shop.example")
    await left_by_an_earlier_version(
        bot,
        chat,
        flow="link",
        step="email",
        data={"flow_id": "0ld5tate"},
        resume_flow="pickup",
        resume_data={"city": "Shenzhen"},
    )
    r = await chat.send("owner@shop.example")
    assert r.says("link.code_sent", lang, minutes=10, attempts=5)
    r = await chat.send(await bot.link_code("owner@shop.example"))
    assert r.texts == [t("link.linked", lang), t("pickup.ask_address", lang, city="Shenzhen")]
