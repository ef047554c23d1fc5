"""The desk's records: one topic per conversation and group (the database refuses a second),
claims that succeed for one caller only, which seller messages a handoff's topic is owed, and
how long a seller has waited; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from services import desk
from services.db import Database
from services.handoff import agent_reply, close_handoff, get_handoff, rate_handoff, start_handoff
from services.models import Conversation, Turn, TurnDirection, TurnKind

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
CHAT = "-1001"


async def conversation(db: Database, user: str = "u1") -> int:
    async with db.sessions() as session, session.begin():
        row = Conversation(
            channel="console", chat_id=user, thread_id="", user_id=user, language="zh", state={}
        )
        session.add(row)
        await session.flush()
        return row.id


async def seller_says(
    db: Database,
    conversation_id: int,
    text: str,
    at: datetime,
    *,
    kind: TurnKind = TurnKind.TEXT,
    typed: str | None = None,
    button: tuple[str, str] | None = None,
) -> int:
    """A seller's turn as the core records it: `text` is the transcript line, `typed` what was
    typed (the line itself unless given), `button` the id and label pressed."""
    async with db.sessions() as session, session.begin():
        turn = Turn(
            conversation_id=conversation_id,
            direction=TurnDirection.IN,
            text=text,
            created_at=at,
            kind=kind,
            typed_text=(typed if typed is not None else text) if kind is not TurnKind.BUTTON else None,
            button_id=button[0] if button else None,
            button_label=button[1] if button else None,
        )
        session.add(turn)
        await session.flush()
        return turn.id


async def handed_off(db: Database, conversation_id: int, at: datetime = NOW):
    done = await start_handoff(
        sessions=db.sessions,
        conversation_id=conversation_id,
        reason="requested",
        language="zh",
        actor="t",
        now=at,
    )
    return done.value


async def topic(db: Database, conversation_id: int, thread: int = 7) -> desk.TopicView:
    return await desk.save_topic(
        db.sessions,
        chat_id=CHAT,
        conversation_id=conversation_id,
        thread_id=thread,
        name="n",
        language="zh",
        now=NOW,
    )


async def test_one_topic_per_conversation_and_group(db: Database) -> None:
    cid = await conversation(db)
    made = await topic(db, cid, thread=7)
    with pytest.raises(desk.TopicExists):
        await topic(db, cid, thread=8)
    # the same conversation in another desk group may have a topic there
    other = await desk.save_topic(
        db.sessions, chat_id="-1002", conversation_id=cid, thread_id=7, name="n", language="en", now=NOW
    )
    assert other.id != made.id
    async with db.sessions() as session:
        assert (await desk.topic_by_thread(session, chat_id=CHAT, thread_id=7)).conversation_id == cid
        assert await desk.topic_by_thread(session, chat_id=CHAT, thread_id=8) is None


async def test_work_for_the_desk_and_the_seller_messages_a_handoff_is_owed(db: Database) -> None:
    cid = await conversation(db)
    await seller_says(db, cid, "hello", NOW - timedelta(minutes=5))  # before the handoff
    handoff = await handed_off(db, cid)
    async with db.sessions() as session:
        assert await desk.conversations_with_work(session, chat_id=CHAT) == [cid]  # no card yet
        last = await desk.last_seller_turn_id(session, conversation_id=cid)
    made = await topic(db, cid)
    await desk.start_desk_handoff(
        db.sessions, handoff_id=handoff.id, topic_id=made.id, card_message_id=8, relayed_turn_id=last, now=NOW
    )
    async with db.sessions() as session:
        assert await desk.conversations_with_work(session, chat_id=CHAT) == []
    photo = await seller_says(
        db,
        cid,
        "look [file photo.jpg 1200 bytes]",
        NOW + timedelta(minutes=1),
        kind=TurnKind.FILE,
        typed="look",
    )
    pressed = await seller_says(
        db, cid, "[button: Yes]", NOW + timedelta(minutes=2), kind=TurnKind.BUTTON, button=("1a2b", "Yes")
    )
    # Typed to look like a button: it is text, and the desk shows it as such.
    lookalike = await seller_says(db, cid, "[button: ok]", NOW + timedelta(minutes=2, seconds=30))
    async with db.sessions() as session:
        assert await desk.conversations_with_work(session, chat_id=CHAT) == [cid]
        owed = await desk.seller_turns_to_relay(session, handoff=handoff, after_turn_id=last)
    assert [(t.id, t.text, t.button_only) for t in owed] == [
        (photo, "look", False),
        (pressed, "", True),
        (lookalike, "[button: ok]", False),
    ]
    await desk.advance_relay(db.sessions, handoff_id=handoff.id, turn_id=lookalike)
    await desk.advance_relay(db.sessions, handoff_id=handoff.id, turn_id=photo)  # never goes back
    # Closed: messages written after the close are not the handoff's.
    await close_handoff(
        sessions=db.sessions, handoff_id=handoff.id, closed_by="agent:a", now=NOW + timedelta(minutes=3)
    )
    await seller_says(db, cid, "thanks bot", NOW + timedelta(minutes=4))
    async with db.sessions() as session:
        closed = await get_handoff(session, handoff_id=handoff.id, turns=0)
        assert await desk.seller_turns_to_relay(session, handoff=closed, after_turn_id=lookalike) == []
        assert await desk.conversations_with_work(session, chat_id=CHAT) == [cid]  # the closing notice
    assert await desk.claim_closed_notice(db.sessions, handoff_id=handoff.id, now=NOW) is True
    async with db.sessions() as session:
        assert await desk.conversations_with_work(session, chat_id=CHAT) == []
    await rate_handoff(sessions=db.sessions, handoff_id=handoff.id, conversation_id=cid, stars=3, now=NOW)
    async with db.sessions() as session:
        assert await desk.conversations_with_work(session, chat_id=CHAT) == [cid]  # the rating notice
        assert await desk.conversations_with_work(session, chat_id="-1002") == []  # not that desk's


async def test_claims_succeed_once_however_many_race(db: Database) -> None:
    cid = await conversation(db)
    handoff = await handed_off(db, cid)
    made = await topic(db, cid)
    await desk.start_desk_handoff(
        db.sessions, handoff_id=handoff.id, topic_id=made.id, card_message_id=None, relayed_turn_id=0, now=NOW
    )
    for claim in (desk.claim_closed_notice, desk.claim_rating_notice):
        won = await asyncio.gather(*(claim(db.sessions, handoff_id=handoff.id, now=NOW) for _ in range(5)))
        assert sorted(won) == [False] * 4 + [True]
    reminded = await asyncio.gather(
        *(desk.claim_reminder(db.sessions, handoff_id=handoff.id, waiting_since=NOW) for _ in range(5))
    )
    assert sorted(reminded) == [False] * 4 + [True]
    # a later wait gets its own reminder
    assert await desk.claim_reminder(
        db.sessions, handoff_id=handoff.id, waiting_since=NOW + timedelta(hours=1)
    )
    suggestion = await desk.record_message(
        db.sessions,
        topic_id=made.id,
        handoff_id=handoff.id,
        kind=desk.DeskMessageKind.ASSIST,
        text="a",
        now=NOW,
    )
    sent = await asyncio.gather(
        *(
            desk.claim_suggestion(db.sessions, desk_message_id=suggestion, agent=f"a{n}", now=NOW)
            for n in range(5)
        )
    )
    assert sorted(sent) == [False] * 4 + [True]
    await desk.release_suggestion(db.sessions, desk_message_id=suggestion)
    assert await desk.claim_suggestion(db.sessions, desk_message_id=suggestion, agent="b", now=NOW)


async def test_how_long_a_seller_has_waited_for_a_person(db: Database) -> None:
    cid = await conversation(db)
    handoff = await handed_off(db, cid)
    async with db.sessions() as session:
        assert await desk.waiting_since(session, handoff=handoff) == NOW  # nobody has answered
    await agent_reply(
        sessions=db.sessions, handoff_id=handoff.id, text="hi", agent="a", now=NOW + timedelta(minutes=2)
    )
    async with db.sessions() as session:
        view = await get_handoff(session, handoff_id=handoff.id, turns=0)
        assert await desk.waiting_since(session, handoff=view) is None  # the agent had the last word
    asked = NOW + timedelta(minutes=5)
    await seller_says(db, cid, "and?", asked)
    await seller_says(db, cid, "hello?", asked + timedelta(minutes=1))
    async with db.sessions() as session:
        assert await desk.waiting_since(session, handoff=view) == asked
