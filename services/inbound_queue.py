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
chat over, and an update the dead process had started is marked abandoned, never run twice (it
may already have acted), so the adapter can tell the user to send it again.

The same code runs on SQLite (one process; `BEGIN IMMEDIATE` serialises the writers) and on
PostgreSQL (several processes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.db import Sessions
from services.models import ChatLease, InboundUpdate, UpdateStatus, utcnow

WAITING = (UpdateStatus.PENDING, UpdateStatus.PROCESSING)


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
    """What `next_update` found: the update to handle now (None: nothing waiting), the updates a
    dead holder had started (now abandoned), and whether this process still holds the lease."""

    update: QueuedUpdate | None
    abandoned: tuple[QueuedUpdate, ...] = ()
    lease_lost: bool = False


def _insert(session: AsyncSession, table: type) -> object:
    return (pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert)(table)


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
    keyed = [row for row, u in zip(rows, updates, strict=True) if u.event_key is not None]
    numbered = [row for row, u in zip(rows, updates, strict=True) if u.event_key is None]
    for row, u in zip(rows, updates, strict=True):
        if u.event_key is not None:
            row["event_key"] = u.event_key
    new: list[int] = []
    async with sessions() as session, session.begin():
        for batch, target in ((numbered, "update_id"), (keyed, "event_key")):
            if not batch:
                continue
            stmt = (
                _insert(session, InboundUpdate)
                .values(batch)
                .on_conflict_do_nothing(index_elements=["channel", target])
                .returning(InboundUpdate.update_id)
            )
            new += (await session.execute(stmt)).scalars()
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
    async with sessions() as session, session.begin():
        stmt = _insert(session, ChatLease).values(
            channel=channel, chat_key=chat_key, owner=owner, expires_at=now + timedelta(seconds=seconds)
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["channel", "chat_key"],
            set_={"owner": stmt.excluded.owner, "expires_at": stmt.excluded.expires_at},
            where=(ChatLease.expires_at < now) | (ChatLease.owner == owner),
        ).returning(ChatLease.owner)
        return (await session.execute(stmt)).scalar_one_or_none() == owner


async def release_lease(sessions: Sessions, *, channel: str, chat_key: str, owner: str) -> None:
    async with sessions() as session, session.begin():
        await session.execute(
            delete(ChatLease).where(
                ChatLease.channel == channel, ChatLease.chat_key == chat_key, ChatLease.owner == owner
            )
        )


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
    async with sessions() as session, session.begin():
        return await _renew(session, channel, chat_key, owner, now + timedelta(seconds=seconds))


async def _renew(session: AsyncSession, channel: str, chat_key: str, owner: str, until: datetime) -> bool:
    result = await session.execute(
        update(ChatLease)
        .where(ChatLease.channel == channel, ChatLease.chat_key == chat_key, ChatLease.owner == owner)
        .values(expires_at=until)
    )
    return bool(result.rowcount)


def _queued(row: InboundUpdate) -> QueuedUpdate:
    return QueuedUpdate(
        update_id=row.update_id,
        chat_key=row.chat_key,
        payload=row.payload or "{}",
        received_at=row.received_at,
    )


async def next_update(
    sessions: Sessions,
    *,
    channel: str,
    chat_key: str,
    owner: str,
    lease_seconds: float,
    now: datetime | None = None,
) -> NextWork:
    """Take the chat's oldest waiting update for `owner`, who must hold the chat's lease (renewed
    here). An update found already started belongs to a holder that died: it is abandoned."""
    now = now or utcnow()
    async with sessions() as session, session.begin():
        if not await _renew(session, channel, chat_key, owner, now + timedelta(seconds=lease_seconds)):
            return NextWork(update=None, lease_lost=True)
        rows = (
            await session.execute(
                select(InboundUpdate)
                .where(
                    InboundUpdate.channel == channel,
                    InboundUpdate.chat_key == chat_key,
                    InboundUpdate.status.in_(WAITING),
                )
                .order_by(InboundUpdate.update_id)
                .limit(20)
            )
        ).scalars()
        abandoned: list[QueuedUpdate] = []
        for row in rows:
            if row.status is UpdateStatus.PROCESSING:
                abandoned.append(_queued(row))
                row.status, row.finished_at, row.payload = UpdateStatus.ABANDONED, now, None
                continue
            taken = _queued(row)
            row.status, row.started_at, row.handled_by = UpdateStatus.PROCESSING, now, owner
            return NextWork(update=taken, abandoned=tuple(abandoned))
        return NextWork(update=None, abandoned=tuple(abandoned))


async def finish_update(
    sessions: Sessions, *, channel: str, update_id: int, owner: str, now: datetime | None = None
) -> bool:
    """Mark an update handled (its payload is no longer needed). False if it was not this owner's
    to finish (abandoned meanwhile by a process that took the chat over)."""
    now = now or utcnow()
    async with sessions() as session, session.begin():
        result = await session.execute(
            update(InboundUpdate)
            .where(
                InboundUpdate.channel == channel,
                InboundUpdate.update_id == update_id,
                InboundUpdate.status == UpdateStatus.PROCESSING,
                InboundUpdate.handled_by == owner,
            )
            .values(status=UpdateStatus.DONE, finished_at=now, payload=None)
        )
        return bool(result.rowcount)


async def chats_with_work(
    sessions: Sessions, *, channel: str, limit: int = 100, now: datetime | None = None
) -> list[str]:
    """Chats with updates waiting and no live lease, those waiting longest first."""
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
    async with sessions() as session:
        return list((await session.execute(stmt)).scalars())


async def has_waiting(sessions: Sessions, *, channel: str, chat_key: str) -> bool:
    async with sessions() as session:
        found = await session.scalar(
            select(InboundUpdate.update_id)
            .where(
                InboundUpdate.channel == channel,
                InboundUpdate.chat_key == chat_key,
                InboundUpdate.status.in_(WAITING),
            )
            .limit(1)
        )
        return found is not None


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
