"""The inbound queue on both databases: an update stored twice is stored once; one holder per chat; a
chat's updates come out in order; a dead holder's started update is run again, unless it keeps
failing; a chat's outbox comes with its updates; workers racing for chats handle every update once
and in order per chat."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from datetime import timedelta

from sqlalchemy import select

from services import inbound_queue as q
from services import outbox
from services.db import Database, writing_connection
from services.models import OutboxMessage, OutboxStatus, utcnow

CHANNEL = "telegram"


def updates(*specs: tuple[int, str]) -> list[q.NewUpdate]:
    return [q.NewUpdate(update_id=i, chat_key=chat, payload=f'{{"update_id": {i}}}') for i, chat in specs]


async def test_an_update_stored_again_is_recognised(db: Database) -> None:
    new = await q.store_updates(
        db.sessions, channel=CHANNEL, updates=updates((1, "a"), (2, "a")), received_by="p1"
    )
    assert new == [1, 2]
    again = await q.store_updates(
        db.sessions, channel=CHANNEL, updates=updates((2, "a"), (3, "b")), received_by="p2"
    )
    assert again == [3]
    # Another channel has update ids of its own.
    other = await q.store_updates(db.sessions, channel="qq", updates=updates((2, "a")), received_by="p1")
    assert other == [2]


async def test_one_holder_per_chat_until_the_lease_expires(db: Database) -> None:
    now = utcnow()
    assert await q.acquire_lease(db.sessions, channel=CHANNEL, chat_key="a", owner="A", seconds=30, now=now)
    assert not await q.acquire_lease(
        db.sessions, channel=CHANNEL, chat_key="a", owner="B", seconds=30, now=now
    )
    assert await q.acquire_lease(db.sessions, channel=CHANNEL, chat_key="b", owner="B", seconds=30, now=now)
    assert await q.acquire_lease(db.sessions, channel=CHANNEL, chat_key="a", owner="A", seconds=30, now=now)
    later = now + timedelta(seconds=31)
    assert await q.acquire_lease(db.sessions, channel=CHANNEL, chat_key="a", owner="B", seconds=30, now=later)
    assert not await q.renew_lease(
        db.sessions, channel=CHANNEL, chat_key="a", owner="A", seconds=30, now=later
    )
    await q.release_lease(db.sessions, channel=CHANNEL, chat_key="a", owner="A")  # not A's any more
    assert not await q.acquire_lease(
        db.sessions, channel=CHANNEL, chat_key="a", owner="C", seconds=30, now=later
    )
    await q.release_lease(db.sessions, channel=CHANNEL, chat_key="a", owner="B")
    assert await q.acquire_lease(db.sessions, channel=CHANNEL, chat_key="a", owner="C", seconds=30, now=later)


async def test_a_chats_updates_come_in_order_and_a_dead_holders_update_is_run_again(db: Database) -> None:
    await q.store_updates(
        db.sessions,
        channel=CHANNEL,
        updates=updates((12, "a"), (10, "a"), (11, "b"), (13, "a")),
        received_by="p",
    )
    now = utcnow()
    assert await q.acquire_lease(db.sessions, channel=CHANNEL, chat_key="a", owner="A", seconds=30, now=now)
    work = await q.next_update(
        db.sessions, channel=CHANNEL, chat_key="a", owner="A", lease_seconds=30, now=now
    )
    assert work.update is not None and work.update.update_id == 10 and not work.abandoned
    # A dies while handling 10; its lease expires and B takes the chat over: 10 is handled again.
    later = now + timedelta(seconds=60)
    assert await q.chats_with_work(db.sessions, channel=CHANNEL, now=later) == ["a", "b"]
    assert await q.chats_with_work(db.sessions, channel=CHANNEL, now=now) == ["b"]  # a is held
    assert await q.acquire_lease(db.sessions, channel=CHANNEL, chat_key="a", owner="B", seconds=30, now=later)
    work = await q.next_update(
        db.sessions, channel=CHANNEL, chat_key="a", owner="B", lease_seconds=30, now=later
    )
    assert work.update is not None and work.update.update_id == 10 and not work.abandoned
    # A wakes up: it may not finish 10, nor take more of chat a.
    assert not await q.finish_update(db.sessions, channel=CHANNEL, update_id=10, owner="A")
    lost = await q.next_update(
        db.sessions, channel=CHANNEL, chat_key="a", owner="A", lease_seconds=30, now=later
    )
    assert lost.lease_lost and lost.update is None
    assert await q.finish_update(db.sessions, channel=CHANNEL, update_id=10, owner="B")
    work = await q.next_update(
        db.sessions, channel=CHANNEL, chat_key="a", owner="B", lease_seconds=30, now=later
    )
    assert work.update is not None and work.update.update_id == 12
    assert await q.finish_update(db.sessions, channel=CHANNEL, update_id=12, owner="B")
    work = await q.next_update(
        db.sessions, channel=CHANNEL, chat_key="a", owner="B", lease_seconds=30, now=later
    )
    assert work.update is not None and work.update.update_id == 13
    assert await q.has_waiting(db.sessions, channel=CHANNEL, chat_key="a")
    assert await q.finish_update(db.sessions, channel=CHANNEL, update_id=13, owner="B")
    assert not await q.has_waiting(db.sessions, channel=CHANNEL, chat_key="a")
    # Handled rows are forgotten once old enough; waiting ones never.
    assert await q.prune_updates(db.sessions, channel=CHANNEL, before=later + timedelta(days=3)) == 3
    assert await q.has_waiting(db.sessions, channel=CHANNEL, chat_key="b")


async def test_an_update_whose_holders_keep_dying_is_abandoned_after_the_last_attempt(db: Database) -> None:
    await q.store_updates(
        db.sessions, channel=CHANNEL, updates=updates((20, "c"), (21, "c")), received_by="p"
    )
    at = utcnow()
    for attempt, owner in enumerate("ABC"):  # each takes the chat, starts 20 and dies
        at += timedelta(seconds=60)
        assert await q.acquire_lease(
            db.sessions, channel=CHANNEL, chat_key="c", owner=owner, seconds=30, now=at
        )
        work = await q.next_update(
            db.sessions, channel=CHANNEL, chat_key="c", owner=owner, lease_seconds=30, now=at
        )
        assert work.update is not None and work.update.update_id == 20, attempt
        assert not work.abandoned
    assert q.MAX_ATTEMPTS == 3
    at += timedelta(seconds=60)
    assert await q.acquire_lease(db.sessions, channel=CHANNEL, chat_key="c", owner="D", seconds=30, now=at)
    work = await q.next_update(
        db.sessions, channel=CHANNEL, chat_key="c", owner="D", lease_seconds=30, now=at
    )
    assert [a.update_id for a in work.abandoned] == [20]
    assert work.abandoned[0].payload == '{"update_id": 20}'  # to tell its sender
    assert work.update is not None and work.update.update_id == 21


async def test_a_chats_outbox_comes_with_its_next_update_and_is_marked_with_the_one_after(
    db: Database,
) -> None:
    await q.store_updates(
        db.sessions,
        channel=CHANNEL,
        updates=updates(
            (30, "d"),
        ),
        received_by="p",
    )
    now = utcnow()
    async with writing_connection(db.sessions) as connection:
        rows = [
            await outbox.enqueue(connection, channel=CHANNEL, chat_key=chat, payload={"n": n}, now=now)
            for n, chat in enumerate(["e", "d", "d"])
        ]
    # A chat with nothing but messages to send is work too.
    assert await q.chats_with_work(db.sessions, channel=CHANNEL, now=now) == ["d", "e"]
    assert await q.has_waiting(db.sessions, channel=CHANNEL, chat_key="e")
    assert await q.acquire_lease(db.sessions, channel=CHANNEL, chat_key="d", owner="A", seconds=30, now=now)
    work = await q.next_update(
        db.sessions, channel=CHANNEL, chat_key="d", owner="A", lease_seconds=30, now=now
    )
    assert work.update is not None and work.update.update_id == 30
    assert [(r.id, r.payload) for r in work.outbox] == [(rows[1].id, {"n": 1}), (rows[2].id, {"n": 2})]
    sent = [
        outbox.Outcome(rows[1].id, sent=True, message_ids=["m1"]),
        outbox.Outcome(rows[2].id, sent=False, failure="blocked"),
    ]
    work = await q.next_update(
        db.sessions,
        channel=CHANNEL,
        chat_key="d",
        owner="A",
        lease_seconds=30,
        now=now,
        finished=30,
        sent=sent,
    )
    assert work.update is None and work.outbox == () and work.finished
    assert not await q.has_waiting(db.sessions, channel=CHANNEL, chat_key="d")
    async with db.sessions() as session:
        marked = {r.id: r for r in (await session.scalars(select(OutboxMessage))).all()}
    assert marked[rows[1].id].status is OutboxStatus.SENT and marked[rows[1].id].message_ids == '["m1"]'
    assert marked[rows[2].id].status is OutboxStatus.FAILED and marked[rows[2].id].failure == "blocked"
    # Sent rows are forgotten once old enough; waiting ones never.
    assert await outbox.prune_sent(db.sessions, channel=CHANNEL, before=now + timedelta(days=2)) == 2
    assert await q.has_waiting(db.sessions, channel=CHANNEL, chat_key="e")


async def test_racing_workers_handle_every_update_once_and_in_order_per_chat(db: Database) -> None:
    chats = [f"chat{n}" for n in range(8)]
    specs = [(1000 + i, chats[i % len(chats)]) for i in range(160)]
    await q.store_updates(db.sessions, channel=CHANNEL, updates=updates(*specs), received_by="intake")
    handled: dict[str, list[int]] = defaultdict(list)
    handlers: dict[int, str] = {}

    async def worker(name: str) -> None:
        while chats_left := await q.chats_with_work(db.sessions, channel=CHANNEL):
            chat = random.choice(chats_left)
            if not await q.acquire_lease(db.sessions, channel=CHANNEL, chat_key=chat, owner=name, seconds=30):
                await asyncio.sleep(0)
                continue
            while True:
                work = await q.next_update(
                    db.sessions, channel=CHANNEL, chat_key=chat, owner=name, lease_seconds=30
                )
                if work.update is None:
                    break
                handled[chat].append(work.update.update_id)
                handlers[work.update.update_id] = name
                await asyncio.sleep(0)
                assert await q.finish_update(
                    db.sessions, channel=CHANNEL, update_id=work.update.update_id, owner=name
                )
            await q.release_lease(db.sessions, channel=CHANNEL, chat_key=chat, owner=name)

    await asyncio.gather(*(worker(f"w{n}") for n in range(6)))
    for chat in chats:
        expected = [i for i, c in specs if c == chat]
        assert handled[chat] == expected
    assert len(handlers) == 160 and len(set(handlers.values())) > 1
