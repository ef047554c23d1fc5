"""Handoffs: one open per conversation, agent replies reach the seller through deliveries,
closing returns the conversation to the bot; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import func, select

from services.audit import events as audit_events
from services.db import Database
from services.handoff import (
    MAX_AGENT_TEXT,
    FileData,
    agent_reply,
    claim_handoff,
    close_handoff,
    get_handoff,
    list_handoffs,
    load_file,
    mark_delivered,
    open_handoff_id,
    pending_deliveries,
    rate_handoff,
    start_handoff,
)
from services.models import Conversation, Handoff, HandoffResolution, HandoffStatus, Turn, TurnDirection
from services.results import Refused, Rule

NOW = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


async def conversation(db: Database, user: str = "u1", channel: str = "console") -> int:
    async with db.sessions() as session, session.begin():
        row = Conversation(channel=channel, chat_id=user, thread_id="", user_id=user, language="zh", state={})
        session.add(row)
        await session.flush()
        session.add(
            Turn(
                conversation_id=row.id,
                direction=TurnDirection.IN,
                text="转人工",
                language="zh",
                created_at=NOW,
            )
        )
        return row.id


async def start(db: Database, conversation_id: int, reason: str = "requested"):
    done = await start_handoff(
        sessions=db.sessions,
        conversation_id=conversation_id,
        reason=reason,
        language="zh",
        actor="t",
        now=NOW,
    )
    return done.value


async def test_handoff_waits_with_its_context(db: Database) -> None:
    cid = await conversation(db)
    view = await start(db, cid)
    assert view.status is HandoffStatus.WAITING and view.reason == "requested"
    assert [t.text for t in view.last_turns] == ["转人工"]
    async with db.sessions() as session:
        assert await open_handoff_id(session, conversation_id=cid) == view.id
        assert [h.id for h in await list_handoffs(session)] == [view.id]


async def test_asking_twice_keeps_one_handoff(db: Database) -> None:
    cid = await conversation(db)
    views = await asyncio.gather(*(start(db, cid) for _ in range(8)))
    assert len({v.id for v in views}) == 1
    async with db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Handoff)) == 1


async def test_agent_reply_is_delivered_once_to_the_sellers_chat(db: Database) -> None:
    cid = await conversation(db, "seller-a")
    other = await conversation(db, "seller-b")
    view = await start(db, cid)
    await start(db, other)
    replied = await agent_reply(
        sessions=db.sessions, handoff_id=view.id, text="  您好,我是客服  ", agent="wang"
    )
    assert replied.value.status is HandoffStatus.ACTIVE
    assert replied.value.agent == "wang" and replied.value.first_reply_at is not None
    async with db.sessions() as session:
        pending = await pending_deliveries(session, channel="console", chat_id="seller-a")
        assert [(d.text, d.user_id) for d in pending] == [("您好,我是客服", "seller-a")]
        assert await pending_deliveries(session, channel="console", chat_id="seller-b") == []
        assert await pending_deliveries(session, channel="telegram") == []
    assert await mark_delivered(sessions=db.sessions, delivery_ids=[pending[0].id]) == 1
    assert await mark_delivered(sessions=db.sessions, delivery_ids=[pending[0].id]) == 0
    async with db.sessions() as session:
        assert await pending_deliveries(session, channel="console", chat_id="seller-a") == []
        transcript = (await get_handoff(session, handoff_id=view.id)).last_turns
    assert transcript[-1].author == "agent:wang" and transcript[-1].direction == "out"


async def test_first_reply_time_is_kept_when_the_agent_writes_again(db: Database) -> None:
    view = await start(db, await conversation(db))
    first = await agent_reply(sessions=db.sessions, handoff_id=view.id, text="1", agent="a", now=NOW)
    later = NOW.replace(hour=9)
    second = await agent_reply(sessions=db.sessions, handoff_id=view.id, text="2", agent="b", now=later)
    assert first.value.first_reply_at == second.value.first_reply_at == NOW
    assert second.value.agent == "a"


async def test_bad_agent_messages_are_refused_and_change_nothing(db: Database) -> None:
    view = await start(db, await conversation(db))
    for text, problem in (("   ", "empty"), ("x" * (MAX_AGENT_TEXT + 1), "too_long")):
        result = await agent_reply(sessions=db.sessions, handoff_id=view.id, text=text, agent="a")
        assert isinstance(result, Refused) and result.violations[0].params["problem"] == problem
    missing = await agent_reply(sessions=db.sessions, handoff_id=view.id + 99, text="hi", agent="a")
    assert isinstance(missing, Refused) and missing.rules == {Rule.HANDOFF_NOT_FOUND}
    async with db.sessions() as session:
        assert await pending_deliveries(session, channel="console") == []
        assert (await get_handoff(session, handoff_id=view.id)).status is HandoffStatus.WAITING


async def test_closing_returns_the_conversation_and_tells_the_seller(db: Database) -> None:
    cid = await conversation(db)
    view = await start(db, cid)
    closed = await close_handoff(
        sessions=db.sessions, handoff_id=view.id, closed_by="agent:a", notice="机器人回来了"
    )
    assert closed.value.status is HandoffStatus.CLOSED and closed.value.closed_at is not None
    async with db.sessions() as session:
        assert await open_handoff_id(session, conversation_id=cid) is None
        assert [d.text for d in await pending_deliveries(session, channel="console")] == ["机器人回来了"]
        assert await list_handoffs(session) == []
        assert len(await list_handoffs(session, include_closed=True)) == 1
    again = await close_handoff(sessions=db.sessions, handoff_id=view.id, closed_by="agent:a")
    assert isinstance(again, Refused) and again.rules == {Rule.HANDOFF_CLOSED}
    late = await agent_reply(sessions=db.sessions, handoff_id=view.id, text="hi", agent="a")
    assert isinstance(late, Refused) and late.rules == {Rule.HANDOFF_CLOSED}
    # a new handoff may open after the old one closed
    assert (await start(db, cid)).id != view.id


async def test_how_a_handoff_ended_is_recorded(db: Database) -> None:
    answered = await start(db, await conversation(db, "a"))
    await agent_reply(sessions=db.sessions, handoff_id=answered.id, text="hi", agent="wang", now=NOW)
    silent = await start(db, await conversation(db, "b"))
    left = await start(db, await conversation(db, "c"))
    await close_handoff(sessions=db.sessions, handoff_id=answered.id, closed_by="agent:wang")
    await close_handoff(sessions=db.sessions, handoff_id=silent.id, closed_by="agent:wang")
    await close_handoff(sessions=db.sessions, handoff_id=left.id, closed_by="console:c", seller_left=True)
    async with db.sessions() as session:
        ended = {h.id: h.resolution for h in (await session.execute(select(Handoff))).scalars()}
    assert ended == {
        answered.id: HandoffResolution.RESOLVED,
        silent.id: HandoffResolution.UNANSWERED,
        left.id: HandoffResolution.SELLER_LEFT,
    }


async def test_a_rating_is_recorded_once_on_a_closed_handoff_of_the_same_conversation(db: Database) -> None:
    cid, other = await conversation(db, "a"), await conversation(db, "b")
    view = await start(db, cid)
    rate = lambda stars, conversation_id=cid: rate_handoff(  # noqa: E731
        sessions=db.sessions, handoff_id=view.id, conversation_id=conversation_id, stars=stars, now=NOW
    )
    assert await rate(5) is False  # still open
    await close_handoff(sessions=db.sessions, handoff_id=view.id, closed_by="agent:a")
    assert await rate(0) is False and await rate(6) is False  # out of range
    assert await rate(4, other) is False  # another conversation's
    results = await asyncio.gather(rate(4), rate(2), rate(5))
    assert sorted(results) == [False, False, True]  # once, however many presses race
    async with db.sessions() as session:
        handoff = await session.get(Handoff, view.id)
    assert handoff.rating in {4, 2, 5} and handoff.rated_at == NOW


async def test_an_agents_file_and_quote_go_with_the_delivery(db: Database) -> None:
    cid = await conversation(db, "seller-a", channel="telegram")
    async with db.sessions() as session, session.begin():
        asked = Turn(
            conversation_id=cid,
            direction=TurnDirection.IN,
            text="where is my payout?",
            channel_message_id="41",
            created_at=NOW,
        )
        session.add(asked)
        await session.flush()
        asked_id = asked.id
    view = await start(db, cid)
    file = FileData(name="statement.pdf", data=b"%PDF-1.4", mime_type="application/pdf")
    done = await agent_reply(
        sessions=db.sessions,
        handoff_id=view.id,
        text="",
        agent="wang",
        file=file,
        reply_to_turn_id=asked_id,
        shown="",
    )
    assert done.ok
    async with db.sessions() as session:
        [delivery] = await pending_deliveries(session, channel="telegram")
        stored = await load_file(session, delivery.upload_id)
        transcript = (await get_handoff(session, handoff_id=view.id)).last_turns
    assert delivery.reply_to == "41" and delivery.text == ""
    assert stored is not None and (stored.name, stored.data) == ("statement.pdf", b"%PDF-1.4")
    assert transcript[-1].text == "[file statement.pdf 8 bytes]"
    # without a file the text may not be empty
    empty = await agent_reply(sessions=db.sessions, handoff_id=view.id, text="", agent="wang")
    assert isinstance(empty, Refused) and empty.rules == {Rule.MESSAGE_INVALID}


async def test_a_claimed_conversation_is_answered_by_its_agent_only(db: Database) -> None:
    handoff = await start(db, await conversation(db))
    first, second = await asyncio.gather(
        claim_handoff(sessions=db.sessions, handoff_id=handoff.id, agent="Li", actor="agent:li", now=NOW),
        claim_handoff(sessions=db.sessions, handoff_id=handoff.id, agent="Wang", actor="agent:wang", now=NOW),
    )
    results = [first, second]
    owners = [r.value.claimed_by for r in results if not isinstance(r, Refused)]
    refused = [r for r in results if isinstance(r, Refused)]
    assert len(owners) == 1 and len(refused) == 1  # one owner, a clear refusal for the other
    owner = owners[0]
    other = "Wang" if owner == "Li" else "Li"
    assert refused[0].rules == {Rule.HANDOFF_TAKEN} and refused[0].violations[0].params["agent"] == owner
    # Claiming one's own claim again changes nothing; the other agent cannot answer
    again = await claim_handoff(sessions=db.sessions, handoff_id=handoff.id, agent=owner, actor="x", now=NOW)
    assert again.value.claimed_by == owner
    blocked = await agent_reply(sessions=db.sessions, handoff_id=handoff.id, text="hi", agent=other, now=NOW)
    assert isinstance(blocked, Refused) and blocked.rules == {Rule.HANDOFF_TAKEN}
    answered = await agent_reply(sessions=db.sessions, handoff_id=handoff.id, text="hi", agent=owner, now=NOW)
    assert not isinstance(answered, Refused)
    # A lead moves it
    moved = await claim_handoff(
        sessions=db.sessions, handoff_id=handoff.id, agent=other, actor="agent:lead", reassign=True, now=NOW
    )
    assert moved.value.claimed_by == other
    async with db.sessions() as session:
        actions = [e.action for e in await audit_events(session)]
    assert actions.count("handoff_claim") == 1 and actions.count("handoff_reassign") == 1


async def test_a_conversation_answered_from_the_telegram_desk_is_taken_for_the_web_desk(db: Database) -> None:
    handoff = await start(db, await conversation(db))
    telegram = "Anna (telegram 1)"
    await agent_reply(sessions=db.sessions, handoff_id=handoff.id, text="hi", agent=telegram, now=NOW)
    # Another Telegram agent of the same topic may still answer (that desk works without claims)
    also = await agent_reply(
        sessions=db.sessions, handoff_id=handoff.id, text="+", agent="Mei (telegram 2)", now=NOW
    )
    assert not isinstance(also, Refused)
    web = await claim_handoff(
        sessions=db.sessions, handoff_id=handoff.id, agent="Li (web li@x)", actor="x", now=NOW
    )
    assert isinstance(web, Refused) and web.violations[0].params["agent"] == telegram
