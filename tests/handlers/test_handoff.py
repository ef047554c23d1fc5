"""Handoff, core part: /agent or the human-agent intent hands the conversation to a person; the
bot stays silent and keeps the transcript; /cancel leaves; an agent's reply reaches the seller
as a delivery; closing returns the conversation to the bot with a notice in the seller's
language."""

from __future__ import annotations

import pytest

from handlers.handoff import close_as_agent, reply_as_agent
from services.handoff import pending_deliveries
from services.models import Delivery, Handoff, HandoffStatus, Turn, TurnDirection
from services.results import Refused, Rule
from tests.conversation import Bot, Chat, png, t

LANGS = ["zh", "en"]
ASK_AGENT = {"zh": "转人工", "en": "I want to talk to a person"}
QUESTION = {"zh": "佣金是多少?", "en": "What is the commission?"}


async def the_handoff(bot: Bot) -> Handoff:
    [handoff] = await bot.rows(Handoff)
    return handoff


async def deliveries(bot: Bot, chat: Chat) -> list[str]:
    async with bot.sessions() as session:
        return [d.text for d in await pending_deliveries(session, channel="console", chat_id=chat.chat_id)]


@pytest.mark.parametrize("lang", LANGS)
async def test_while_with_a_person_the_bot_is_silent_and_keeps_the_transcript(bot: Bot, lang: str) -> None:
    chat = bot.chat(lang=lang)
    r = await chat.send(ASK_AGENT[lang])
    assert r.texts == [t("handoff.started", lang)]
    handoff = await the_handoff(bot)
    assert handoff.status is HandoffStatus.WAITING and handoff.language == lang
    for text in (QUESTION[lang], "/help", "/agent", "/start open_store", "hello?"):
        r = await chat.send(text)
        assert r.replies == [], text
    r = await chat.upload("logo.png", png(600, 600))
    assert r.replies == []
    r = await chat.press_id("0abc")
    assert r.replies == []
    inbound = [turn.text for turn in await chat.turns() if turn.direction is TurnDirection.IN]
    assert inbound[1:6] == [QUESTION[lang], "/help", "/agent", "/start open_store", "hello?"]
    assert inbound[6].startswith("[file logo.png ") and inbound[7] == "[button 0abc]"
    assert not await chat.in_a_flow()


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("word", ["/cancel", "取消", "cancel", "/cancel@sellerbot", "退出", "算了"])
async def test_cancel_leaves_the_queue_and_the_bot_is_back(bot: Bot, lang: str, word: str) -> None:
    chat = bot.chat(lang=lang)
    await chat.send("/agent")
    r = await chat.send(word)
    assert r.texts == [t("handoff.left", lang)]
    assert (await the_handoff(bot)).status is HandoffStatus.CLOSED
    r = await chat.send(QUESTION[lang])
    assert r.texts == [bot.knowledge.render("fees", lang, bot.policy)]


@pytest.mark.parametrize("lang", LANGS)
async def test_an_agents_reply_reaches_the_seller_and_closing_returns_to_the_bot(
    bot_any: Bot, lang: str
) -> None:
    bot = bot_any
    chat = bot.chat(lang=lang)
    await chat.send(QUESTION[lang])
    await chat.send("/agent")
    handoff = await the_handoff(bot)
    done = await reply_as_agent(
        sessions=bot.sessions, handoff_id=handoff.id, text="Hi, Anna here.", agent="anna"
    )
    assert done.ok and done.value.status is HandoffStatus.ACTIVE
    assert await deliveries(bot, chat) == ["Hi, Anna here."]
    # the agent sees the conversation before the handoff too
    assert QUESTION[lang] in [line.text for line in done.value.last_turns]
    r = await chat.send("thanks, one more thing")
    assert r.replies == []
    closed = await close_as_agent(sessions=bot.sessions, handoff_id=handoff.id, agent="anna")
    assert closed.ok and closed.value.status is HandoffStatus.CLOSED
    # an agent answered: the seller is asked to rate the help
    rate = t("handoff.rate", lang)
    assert await deliveries(bot, chat) == ["Hi, Anna here.", t("handoff.closed", lang), rate]
    agent_turns = [turn for turn in await chat.turns() if turn.author == "agent:anna"]
    assert [turn.text for turn in agent_turns] == ["Hi, Anna here."]
    r = await chat.send(QUESTION[lang])
    assert r.texts == [bot.knowledge.render("fees", lang, bot.policy)]
    # closing twice is refused, naming the rule
    again = await close_as_agent(sessions=bot.sessions, handoff_id=handoff.id, agent="anna")
    assert isinstance(again, Refused) and again.rules == {Rule.HANDOFF_CLOSED}


async def test_the_closing_notice_is_in_the_language_the_seller_wrote_in(bot: Bot) -> None:
    chat = bot.chat(lang="zh")
    await chat.send("I want to talk to a person")
    handoff = await the_handoff(bot)
    assert handoff.language == "en"
    await close_as_agent(sessions=bot.sessions, handoff_id=handoff.id, agent="anna")
    assert await deliveries(bot, chat) == [t("handoff.closed", "en")]


async def test_asking_for_a_person_in_a_flow_leaves_the_flow(bot: Bot) -> None:
    chat = bot.chat(lang="en")
    await bot.seller(link=chat)
    await chat.send("/start open_store")
    await chat.send("Sunrise Gadgets")
    r = await chat.send("/agent")
    assert r.texts == [t("handoff.started", "en")]
    assert not await chat.in_a_flow()
    await chat.send("/cancel")
    r = await chat.send("/cancel")
    assert r.says("commands.nothing_to_cancel", "en")


async def test_a_handoff_survives_a_restart(bot: Bot) -> None:
    chat = bot.chat(lang="en")
    await chat.send("/agent")
    await bot.restart()
    r = await chat.send(QUESTION["en"])
    assert r.replies == []
    assert await bot.count(Delivery) == 0
    handoff = await the_handoff(bot)
    await reply_as_agent(sessions=bot.sessions, handoff_id=handoff.id, text="Still here", agent="anna")
    assert await deliveries(bot, chat) == ["Still here"]


async def test_an_agent_message_is_checked(bot: Bot) -> None:
    chat = bot.chat(lang="en")
    await chat.send("/agent")
    handoff = await the_handoff(bot)
    refused = await reply_as_agent(sessions=bot.sessions, handoff_id=handoff.id, text="   ", agent="anna")
    assert isinstance(refused, Refused) and refused.rules == {Rule.MESSAGE_INVALID}
    missing = await reply_as_agent(sessions=bot.sessions, handoff_id=999, text="hi", agent="anna")
    assert isinstance(missing, Refused) and missing.rules == {Rule.HANDOFF_NOT_FOUND}
    assert await bot.count(Turn, Turn.author.is_not(None)) == 0


@pytest.mark.parametrize("lang", LANGS)
async def test_asking_for_a_person_is_heard_at_any_step(bot: Bot, lang: str) -> None:
    chat = bot.chat(lang=lang)
    await chat.send("/link")  # a step that takes an e-mail address
    r = await chat.send(ASK_AGENT[lang])
    assert r.texts == [t("handoff.started", lang)]
    assert await bot.count(Handoff) == 1 and not await chat.in_a_flow()


@pytest.mark.parametrize(
    ("local_time", "when"),
    [
        # Monday 2026-11-23, Beijing time
        ((23, 10, 0), None),  # on duty
        ((24, 7, 30), {"in_days": 0, "weekday": "Tuesday", "time": "09:00"}),  # before opening
        ((23, 19, 0), {"in_days": 1, "weekday": "Tuesday", "time": "09:00"}),  # after closing
        ((27, 20, 0), {"in_days": 3, "weekday": "Monday", "time": "09:00"}),  # Friday night
    ],
)
async def test_the_seller_is_told_when_a_person_will_answer(
    bot: Bot, local_time: tuple, when: dict | None
) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from services.handoff_settings import HandoffSettings

    bot.core = bot.new_core(handoff=HandoffSettings())  # 09:00-18:00, Monday to Friday
    day, hour, minute = local_time
    bot.clock.now = datetime(2026, 11, day, hour, minute, tzinfo=ZoneInfo("Asia/Shanghai"))
    chat = bot.chat(lang="en")
    r = await chat.send("/agent")
    hours = {"days": "Monday to Friday", "hours": "09:00–18:00", "zone": "Beijing time"}
    expected = (
        t("handoff.hours_open", "en", **hours)
        if when is None
        else t("handoff.hours_closed", "en", **hours, **when)
    )
    assert r.texts == [t("handoff.started", "en") + "\n" + expected]
    if when is not None:  # as a person reads it
        said = {0: "today at 09:00", 1: "tomorrow at 09:00", 3: "on Monday at 09:00"}[when["in_days"]]
        assert said in r.text


@pytest.mark.parametrize("lang", LANGS)
async def test_during_the_holidays_the_seller_is_told_the_date_the_team_is_back(bot: Bot, lang: str) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from services.handoff_settings import HandoffSettings

    national_day = [f"2026-10-0{d}" for d in range(1, 8)]
    bot.core = bot.new_core(handoff=HandoffSettings(holidays=national_day))
    bot.clock.now = datetime(2026, 9, 30, 19, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # Wednesday evening
    chat = bot.chat(lang=lang)
    r = await chat.send("/agent")
    said = {"zh": "客服将于2026-10-08(周四)09:00上班后", "en": "on Thursday, 2026-10-08, at 09:00"}[lang]
    assert said in r.text


async def test_a_rating_press_is_recorded_once_and_a_second_press_changes_nothing(bot: Bot) -> None:
    chat = bot.chat(lang="zh")
    await chat.send("/agent")
    handoff = await the_handoff(bot)
    await reply_as_agent(sessions=bot.sessions, handoff_id=handoff.id, text="您好", agent="anna")
    await close_as_agent(sessions=bot.sessions, handoff_id=handoff.id, agent="anna")
    async with bot.sessions() as session:
        [*_, rate] = await pending_deliveries(session, channel="console", chat_id=chat.chat_id)
    assert rate.text == t("handoff.rate", "zh") and [label for _, label in rate.buttons] == [
        t("handoff.rate_label", "zh", stars=n) for n in range(1, 6)
    ]
    three, five = rate.buttons[2][0], rate.buttons[4][0]
    r = await chat.press_id(three)
    assert r.texts == [t("handoff.rated", "zh", stars=3)]
    r = await chat.press_id(five)  # another star of the same question: the question is answered
    assert r.texts == [t("buttons.already_pressed", "zh")]
    r = await chat.press_id(three)
    assert r.texts == [t("buttons.already_pressed", "zh")]
    assert (await the_handoff(bot)).rating == 3
