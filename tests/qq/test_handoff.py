"""A QQ seller handed to a person, on either protocol: the agent's answers (text and an image)
reach QQ, closing asks for a rating answered by number; on the official API an answer written
after the seller's reply window closed waits, the agent is told, and it goes with the seller's next
message."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from handlers import replies
from handlers.handoff import close_as_agent, reply_as_agent
from services.handoff import FileData, held_deliveries
from services.models import Delivery, Handoff, utcnow
from tests.conversation import png
from tests.qq.harness import Harness, OfficialHarness


def t(key: str, lang: str, **context: object) -> str:
    return replies.say(key, lang, **context)


async def the_handoff(qq: Harness) -> Handoff:
    async with qq.sessions() as session:
        return (await session.execute(select(Handoff).order_by(Handoff.id.desc()))).scalars().first()


async def delivered(qq: Harness, count: int) -> None:
    """Until `count` agent messages have been sent (or held, or failed): the delivery loop's passes
    are waited for, then the chat workers that send what it queued."""
    while True:
        async with qq.sessions() as session:
            rows = (await session.execute(select(Delivery))).scalars().all()
        if len([d for d in rows if d.delivered_at or d.held_at or d.failed_at]) >= count:
            break
        await qq.runtime.deliveries.next_pass()
    await qq.runtime.deliveries.next_pass()  # (it wakes the chats after it queued)
    await qq.runtime.processor.wait_idle()


async def test_a_person_answers_and_the_seller_rates_by_number(qq: Harness) -> None:
    seller = qq.private("7001")
    turn = await seller.send("转人工")
    assert t("handoff.started", "zh") in turn.text
    handoff = await the_handoff(qq)
    await reply_as_agent(
        sessions=qq.sessions, handoff_id=handoff.id, text="您好,我是客服小王。", agent="wang"
    )
    await reply_as_agent(
        sessions=qq.sessions,
        handoff_id=handoff.id,
        text="这是操作截图",
        agent="wang",
        file=FileData("shot.png", png(600, 600), "image/png"),
    )
    await delivered(qq, 2)
    outputs = await qq_outputs(qq, seller)
    assert "您好,我是客服小王。" in outputs.texts
    assert outputs.images and outputs.images[0].startswith(b"\x89PNG")
    # what the seller writes meanwhile reaches the person, and the bot stays silent
    assert (await seller.send("好的,谢谢")).texts == []
    await close_as_agent(sessions=qq.sessions, handoff_id=handoff.id, agent="wang")
    await delivered(qq, 4)
    outputs = await qq_outputs(qq, seller)
    assert t("handoff.closed", "zh") in outputs.texts
    rating = next(text for text in outputs.texts if t("handoff.rate", "zh") in text)
    assert "5. " in rating
    turn = await seller.send("5")
    assert t("handoff.rated", "zh", stars=5) in turn.text
    assert (await the_handoff(qq)).rating == 5


async def test_the_seller_leaves_the_queue_with_cancel(qq: Harness) -> None:
    seller = qq.private("7002")
    await seller.send("转人工")
    turn = await seller.send("取消")
    assert t("handoff.left", "zh") in turn.text


async def test_outside_the_reply_window_the_answer_waits_for_the_sellers_next_message(
    official: OfficialHarness,
) -> None:
    fake, transport = official.fake, official.runtime.transport
    seller = official.private("u-wait")
    await seller.send("转人工")
    handoff = await the_handoff(official)
    # An hour and more later (the platform's clock and the bot's): the window has closed.
    fake.advance(3700)
    transport.clock = lambda: utcnow() + timedelta(seconds=3700)  # type: ignore[attr-defined]
    sent_before = len(fake.sent_to("u-wait"))
    await reply_as_agent(
        sessions=official.sessions, handoff_id=handoff.id, text="久等了,已为您处理。", agent="li"
    )
    await delivered(official, 1)
    assert len(fake.sent_to("u-wait")) == sent_before and fake.refusals == []
    async with official.sessions() as session:
        assert await held_deliveries(session, conversation_id=handoff.conversation_id) == [
            "久等了,已为您处理。"
        ]
    # the seller writes again: a new window, and the answer goes with it
    kind, data = fake.message_event(group=None, user="u-wait", text="还在吗?")
    await official.deliver(kind, data)
    await official.handled(data["id"])
    await fake.wait_for(lambda: any(s.text == "久等了,已为您处理。" for s in fake.sent_to("u-wait")))
    [answer] = [s for s in fake.sent_to("u-wait") if s.text == "久等了,已为您处理。"]
    assert answer.reference == data["id"]
    async with official.sessions() as session:
        assert await held_deliveries(session, conversation_id=handoff.conversation_id) == []


class Outputs:
    def __init__(self, texts: list[str], images: list[bytes]) -> None:
        self.texts, self.images = texts, images


async def qq_outputs(qq: Harness, chat) -> Outputs:  # type: ignore[no-untyped-def]
    """Everything the bot has sent into the chat so far."""
    fake = getattr(qq, "fake", None)
    if fake is not None:
        sent = fake.sent_to(chat.chat)
        return Outputs([s.text for s in sent if s.msg_type == 0], [s.image for s in sent if s.image])
    posted = qq.client.posted_to(chat.chat)  # type: ignore[attr-defined]
    return Outputs([p.text for p in posted if p.text], [i for p in posted for i in p.images])
