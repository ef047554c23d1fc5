"""The inbound queue: updates a chat channel delivered, stored once, handled in order per chat.

A channel adapter stores every update it receives (`store_updates`) before handling it. The
primary key (channel, update_id) makes a redelivered update fail to insert, so it is dropped:
each update takes effect once, whichever process received it and however often it came.

Handling runs chat by chat. A process that wants to work on a chat takes the chat's lease
(`acquire_lease`: an upsert that succeeds only if nobody holds an unexpired lease), then takes
the chat's updates one at a time, oldest `update_id` first (`next_update`, which also renews
the lease and checks it is still held), marks each one done (`finish_update`), and releases the
lease (`release_lease`) when the chat has nothing waiting. One holder per chat means one chat's
updates are handled in order; different chats, held by different workers or processes, run side
by side. A process that dies stops renewing; once its lease expires another process takes the
chat over and handles again the update the dead process had started: the conversation core saves
a turn's state, transcript and replies with the update's completion, and actions carry
idempotency keys, so a second run repeats nothing. An update that was started `MAX_ATTEMPTS`
times without finishing (it keeps bringing its process down) is abandoned, and the adapter tells
the user to send it again.

The chat's holder also sends what the chat is owed (`services.outbox`): its rows are marked in the
transaction that takes the next update, and found there too.

The same code runs on SQLite (one process; `BEGIN IMMEDIATE` serialises the writers) and on
PostgreSQL (several processes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from services import outbox
from services.db import (
    HotStatement,
    Sessions,
    reading_connection,
    run_reading,
    run_writing,
    writing_connection,
)
from services.models import ChatLease, InboundUpdate, OutboxMessage, UpdateStatus, utcnow

WAITING = (UpdateStatus.PENDING, UpdateStatus.PROCESSING)
# Times an update is started before it counts as the one that brings its process down.
MAX_ATTEMPTS = 3
# The rows of a chat's outbox taken with its next update.
OUTBOX_BATCH = 20


@dataclass(frozen=True)
class NewUpdate:
    update_id: int
    chat_key: str
    payload: str  # JSON text as the channel sent it
    # The channel's own id of the update, for channels that do not number their updates (then
    # `update_id` is a number the receiver gave it): a redelivery is recognised by this key.
    event_key: str | None = None


@dataclass(frozen=True)
class QueuedUpdate:
    update_id: int
    chat_key: str
    payload: str
    received_at: datetime


@dataclass(frozen=True)
class NextWork:
    """What `next_update` found: the update to handle now (None: nothing waiting), the updates
    dead holders kept starting (now abandoned), what the chat is owed (its outbox rows, to send
    first), and whether this process still holds the lease."""

    update: QueuedUpdate | None
    abandoned: tuple[QueuedUpdate, ...] = ()
    lease_lost: bool = False
    # With `finished`: whether that update was still the owner's to mark handled.
    finished: bool | None = None
    outbox: tuple[outbox.Pending, ...] = ()


def _insert_into(connection: AsyncConnection, table: Any) -> Any:
    return (pg_insert if connection.dialect.name == "postgresql" else sqlite_insert)(table)


async def store_updates(
    sessions: Sessions,
    *,
    channel: str,
    updates: Sequence[NewUpdate],
    received_by: str,
    now: datetime | None = None,
) -> list[int]:
    """Store updates in one transaction; returns the ids that were new (the others had been
    stored before: redeliveries, to be dropped)."""
    if not updates:
        return []
    now = now or utcnow()
    rows = [
        {
            "channel": channel,
            "update_id": u.update_id,
            "chat_key": u.chat_key,
            "payload": u.payload,
            "status": UpdateStatus.PENDING,
            "received_at": now,
            "received_by": received_by,
        }
        for u in updates
    ]
    for row, u in zip(rows, updates, strict=True):
        row["event_key"] = u.event_key
    keyed = [row for row in rows if row["event_key"] is not None]
    numbered = [row for row in rows if row["event_key"] is None]
    new: list[int] = []
    async with writing_connection(sessions) as connection:
        for batch, target in ((numbered, "update_id"), (keyed, "event_key")):
            if not batch:
                continue
            # One statement for any number of rows (executemany with RETURNING): a VALUES list per
            # batch size would be compiled again for every size.
            stmt = (
                _insert_into(connection, InboundUpdate.__table__)
                .on_conflict_do_nothing(index_elements=["channel", target])
                .returning(InboundUpdate.__table__.c.update_id)
            )
            new += (await connection.execute(stmt, batch)).scalars()
    return sorted(new)


async def acquire_lease(
    sessions: Sessions,
    *,
    channel: str,
    chat_key: str,
    owner: str,
    seconds: float,
    now: datetime | None = None,
) -> bool:
    """Take the chat for `owner` for `seconds` unless someone else holds an unexpired lease."""
    now = now or utcnow()
    params = {
        "b_channel": channel,
        "b_chat_key": chat_key,
        "b_owner": owner,
        "b_until": now + timedelta(seconds=seconds),
        "b_now": now,
    }

    def take(connection: Connection) -> bool:
        return _acquire(connection.dialect.name).run(connection, params).scalar() == owner

    # Core statements in one hand-over (see `run_writing`): a chat is taken at every visit.
    return await run_writing(sessions, take)


async def release_lease(
    sessions: Sessions, *, channel: str, chat_key: str, owner: str, look: bool = False
) -> bool:
    """Let go of the chat. With `look`: whether the chat has work waiting (updates, outbox rows)
    once let go of, read in the same transaction (work stored meanwhile by another process would
    otherwise wait for a sweep); else False."""
    chat = {"b_channel": channel, "b_chat_key": chat_key, "b_owner": owner}

    def release(connection: Connection) -> bool:
        _RELEASE.run(connection, chat)
        return look and _has_waiting(connection, channel=channel, chat_key=chat_key)

    return await run_writing(sessions, release)


async def renew_lease(
    sessions: Sessions,
    *,
    channel: str,
    chat_key: str,
    owner: str,
    seconds: float,
    now: datetime | None = None,
) -> bool:
    """Extend a lease this owner holds; False if it was lost (expired and taken over)."""
    now = now or utcnow()
    params = {
        "b_channel": channel,
        "b_chat_key": chat_key,
        "b_owner": owner,
        "b_until": now + timedelta(seconds=seconds),
    }
    return await run_writing(sessions, lambda connection: bool(_RENEW.run(connection, params).rowcount))


_updates = InboundUpdate.__table__.c
_leases = ChatLease.__table__.c
# Prebuilt (they run at every update): building a statement costs more than running it.
_RENEW = HotStatement(
    update(ChatLease.__table__)
    .where(
        _leases.channel == bindparam("b_channel"),
        _leases.chat_key == bindparam("b_chat_key"),
        _leases.owner == bindparam("b_owner"),
    )
    .values(expires_at=bindparam("b_until", type_=_leases.expires_at.type))
)
_RELEASE = HotStatement(
    delete(ChatLease.__table__).where(
        _leases.channel == bindparam("b_channel"),
        _leases.chat_key == bindparam("b_chat_key"),
        _leases.owner == bindparam("b_owner"),
    )
)
# Taking a chat: an upsert that changes the row only where its lease has expired or is the
# owner's already, returning the owner the row has afterwards. Built once per dialect.
_ACQUIRE: dict[str, HotStatement] = {}


def _acquire(dialect: str) -> HotStatement:
    statement = _ACQUIRE.get(dialect)
    if statement is None:
        until = bindparam("b_until", type_=_leases.expires_at.type)
        insert = (pg_insert if dialect == "postgresql" else sqlite_insert)(ChatLease.__table__).values(
            channel=bindparam("b_channel"),
            chat_key=bindparam("b_chat_key"),
            owner=bindparam("b_owner"),
            expires_at=until,
        )
        statement = _ACQUIRE[dialect] = HotStatement(
            insert.on_conflict_do_update(
                index_elements=["channel", "chat_key"],
                set_={"owner": insert.excluded.owner, "expires_at": insert.excluded.expires_at},
                where=(_leases.expires_at < bindparam("b_now", type_=_leases.expires_at.type))
                | (_leases.owner == bindparam("b_owner")),
            ).returning(_leases.owner)
        )
    return statement


_FINISH = HotStatement(
    update(InboundUpdate.__table__)
    .where(
        _updates.channel == bindparam("b_channel"),
        _updates.update_id == bindparam("b_update_id"),
        _updates.status == UpdateStatus.PROCESSING,
        _updates.handled_by == bindparam("b_owner"),
    )
    .values(
        status=UpdateStatus.DONE,
        finished_at=bindparam("b_now", type_=_updates.finished_at.type),
        payload=None,
    )
)
_LEASE_HELD = exists().where(
    _leases.channel == bindparam("b_channel"),
    _leases.chat_key == bindparam("b_chat_key"),
    _leases.owner == bindparam("b_owner"),
)
# Updates a dead holder had started: handled again by the chat's new holder (only while it holds
# it) — unless they were started too often: those are abandoned.
_RETRY_STARTED = HotStatement(
    update(InboundUpdate.__table__)
    .where(
        _updates.channel == bindparam("b_channel"),
        _updates.chat_key == bindparam("b_chat_key"),
        _updates.status == UpdateStatus.PROCESSING,
        _updates.attempts < MAX_ATTEMPTS - 1,
        _LEASE_HELD,
    )
    .values(status=UpdateStatus.PENDING, attempts=_updates.attempts + 1)
)
_ABANDON_STARTED = HotStatement(
    update(InboundUpdate.__table__)
    .where(
        _updates.channel == bindparam("b_channel"),
        _updates.chat_key == bindparam("b_chat_key"),
        _updates.status == UpdateStatus.PROCESSING,
        _LEASE_HELD,
    )
    # (The payload stays: RETURNING gives the new values, and the new holder needs it to tell the
    # sender. Abandoned rows are rare and pruned with the rest.)
    .values(status=UpdateStatus.ABANDONED, finished_at=bindparam("b_now", type_=_updates.finished_at.type))
    .returning(_updates.update_id, _updates.chat_key, _updates.payload, _updates.received_at)
)
_updates_alias = InboundUpdate.__table__.alias("waiting")
# The chat's oldest pending update, taken in one statement, and only while `owner` holds the
# chat's lease (a holder whose lease another process has taken gets nothing).
_TAKE_NEXT = HotStatement(
    update(InboundUpdate.__table__)
    .where(
        _updates.channel == bindparam("b_channel"),
        _updates.update_id
        == select(_updates_alias.c.update_id)
        .where(
            _updates_alias.c.channel == bindparam("b_channel"),
            _updates_alias.c.chat_key == bindparam("b_chat_key"),
            _updates_alias.c.status == UpdateStatus.PENDING,
        )
        .order_by(_updates_alias.c.update_id)
        .limit(1)
        .scalar_subquery(),
        _LEASE_HELD,
    )
    .values(
        status=UpdateStatus.PROCESSING,
        started_at=bindparam("b_now", type_=_updates.started_at.type),
        handled_by=bindparam("b_owner"),
    )
    .returning(_updates.update_id, _updates.chat_key, _updates.payload, _updates.received_at)
)
_HOLDS = HotStatement(
    select(_leases.owner).where(
        _leases.channel == bindparam("channel"),
        _leases.chat_key == bindparam("chat_key"),
        _leases.owner == bindparam("owner"),
    )
)


def _queued(row: Any) -> QueuedUpdate:
    update_id, key, payload, received_at = row
    return QueuedUpdate(update_id=update_id, chat_key=key, payload=payload or "{}", received_at=received_at)


async def next_update(
    sessions: Sessions,
    *,
    channel: str,
    chat_key: str,
    owner: str,
    lease_seconds: float,
    now: datetime | None = None,
    finished: int | None = None,
    look_for_abandoned: bool = True,
    sent: Sequence[outbox.Outcome] = (),
) -> NextWork:
    """Take the chat's oldest waiting update for `owner`, who must hold the chat's lease (kept
    alive by its holder: `Lease`), and the rows of the chat's outbox waiting to be sent. An update
    found already started belongs to a holder that died: it is handled again, or abandoned if it
    was started `MAX_ATTEMPTS` times (a holder looks for those when it takes the chat;
    `look_for_abandoned=False` for the updates after). First, in the same transaction: with
    `finished`, the update the owner has just handled is marked handled (`NextWork.finished` says
    whether it still was the owner's to finish), and the outbox rows it has `sent` are marked."""
    now = now or utcnow()

    def take(connection: Connection) -> NextWork:
        outbox.mark_in(connection, sent, now=now)
        done = None
        if finished is not None:
            done = finish_in(connection, channel=channel, update_id=finished, owner=owner, now=now)
        abandoned: tuple[QueuedUpdate, ...] = ()
        chat = {"b_channel": channel, "b_chat_key": chat_key, "b_owner": owner, "b_now": now}
        if look_for_abandoned:
            _RETRY_STARTED.run(connection, chat)
            found = _ABANDON_STARTED.run(connection, chat)
            abandoned = tuple(sorted((_queued(row) for row in found), key=lambda u: u.update_id))
        taken = _TAKE_NEXT.run(connection, chat).first()
        owed = tuple(outbox.pending_in(connection, channel=channel, chat_key=chat_key, limit=OUTBOX_BATCH))
        if taken is not None:
            return NextWork(update=_queued(taken), abandoned=abandoned, finished=done, outbox=owed)
        held = _HOLDS.run(connection, {"channel": channel, "chat_key": chat_key, "owner": owner}).scalar()
        return NextWork(update=None, abandoned=abandoned, lease_lost=held is None, finished=done, outbox=owed)

    # One hand-over to the database layer for the whole transaction (see `run_writing`).
    return await run_writing(sessions, take)


def take_next_in(
    connection: Connection, *, channel: str, chat_key: str, owner: str, now: datetime
) -> QueuedUpdate | None:
    """Take the chat's next waiting update in the caller's transaction (the conversation core's,
    which saves the update before it), if the owner still holds the chat's lease."""
    chat = {"b_channel": channel, "b_chat_key": chat_key, "b_owner": owner, "b_now": now}
    row = _TAKE_NEXT.run(connection, chat).first()
    return None if row is None else _queued(row)


async def put_back(sessions: Sessions, *, channel: str, update_id: int, owner: str) -> None:
    """An update taken but not started (the process is stopping): waiting again, as it was."""
    async with writing_connection(sessions) as connection:
        await connection.execute(
            update(InboundUpdate.__table__)
            .where(
                _updates.channel == channel,
                _updates.update_id == update_id,
                _updates.handled_by == owner,
                _updates.status == UpdateStatus.PROCESSING,
            )
            .values(status=UpdateStatus.PENDING, started_at=None, handled_by=None)
        )


async def owed_rows(
    sessions: Sessions, *, channel: str, chat_key: str, unmarked: Sequence[int] = ()
) -> tuple[outbox.Pending, ...]:
    """What the chat's outbox holds waiting (read on its own, when the next update is already
    taken), less the rows sent whose outcomes are not written yet (`unmarked`)."""
    rows = await run_reading(
        sessions,
        lambda connection: outbox.pending_in(
            connection, channel=channel, chat_key=chat_key, limit=OUTBOX_BATCH
        ),
    )
    return tuple(row for row in rows if row.id not in set(unmarked))


def finish_in(connection: Connection, *, channel: str, update_id: int, owner: str, now: datetime) -> bool:
    """Mark an update handled in the caller's transaction (the conversation core's, which saves the
    turn it was; synchronous statements, see `services.db.run_writing`); False if it was no longer
    this owner's."""
    result = _FINISH.run(
        connection, {"b_channel": channel, "b_update_id": update_id, "b_owner": owner, "b_now": now}
    )
    return bool(result.rowcount)


async def finish_update(
    sessions: Sessions, *, channel: str, update_id: int, owner: str, now: datetime | None = None
) -> bool:
    """Mark an update handled (its payload is no longer needed). False if it was not this owner's
    to finish (abandoned meanwhile by a process that took the chat over)."""
    now = now or utcnow()
    return await run_writing(
        sessions,
        lambda connection: finish_in(connection, channel=channel, update_id=update_id, owner=owner, now=now),
    )


async def chats_with_work(
    sessions: Sessions, *, channel: str, limit: int = 100, now: datetime | None = None
) -> list[str]:
    """Chats with updates waiting, or outbox rows to send, and no live lease: those with updates
    waiting longest first."""
    now = now or utcnow()
    live = select(ChatLease.chat_key).where(ChatLease.channel == channel, ChatLease.expires_at >= now)
    stmt = (
        select(InboundUpdate.chat_key)
        .where(
            InboundUpdate.channel == channel,
            InboundUpdate.status.in_(WAITING),
            InboundUpdate.chat_key.not_in(live),
        )
        .group_by(InboundUpdate.chat_key)
        .order_by(func.min(InboundUpdate.update_id))
        .limit(limit)
    )
    owed = outbox.pending_chats(channel).where(OutboxMessage.chat_key.not_in(live)).distinct().limit(limit)
    async with reading_connection(sessions) as connection:
        chats = dict.fromkeys((await connection.execute(stmt)).scalars())
        chats.update(dict.fromkeys((await connection.execute(owed)).scalars()))
    return list(chats)[:limit]


_HAS_WAITING = HotStatement(
    select(_updates.update_id)
    .where(
        _updates.channel == bindparam("b_channel"),
        _updates.chat_key == bindparam("b_chat_key"),
        _updates.status.in_(WAITING),
    )
    .limit(1)
)


async def has_waiting(sessions: Sessions, *, channel: str, chat_key: str) -> bool:
    """Whether the chat has updates waiting or outbox rows to send."""
    return await run_reading(
        sessions, lambda connection: _has_waiting(connection, channel=channel, chat_key=chat_key)
    )


def _has_waiting(connection: Connection, *, channel: str, chat_key: str) -> bool:
    if _HAS_WAITING.run(connection, {"b_channel": channel, "b_chat_key": chat_key}).scalar() is not None:
        return True
    return bool(outbox.pending_in(connection, channel=channel, chat_key=chat_key, limit=1))


async def prune_updates(sessions: Sessions, *, channel: str, before: datetime) -> int:
    """Forget handled updates finished before `before` (keep them longer than the channel may
    redeliver: Telegram keeps an update for 24 hours)."""
    async with sessions() as session, session.begin():
        result = await session.execute(
            delete(InboundUpdate).where(
                InboundUpdate.channel == channel,
                InboundUpdate.status.in_((UpdateStatus.DONE, UpdateStatus.ABANDONED)),
                InboundUpdate.finished_at < before,
            )
        )
        return result.rowcount or 0


__all__ = [
    "NewUpdate",
    "NextWork",
    "QueuedUpdate",
    "acquire_lease",
    "chats_with_work",
    "finish_update",
    "has_waiting",
    "next_update",
    "prune_updates",
    "release_lease",
    "renew_lease",
    "store_updates",
]
