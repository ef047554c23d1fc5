"""The durable outbox: what a chat is owed — a turn's replies, an agent's message — written in a
transaction of its own cause, and sent from there by whichever process holds the chat
(`bot.runtime.workers`).

While a channel's runtime handles an update it says so (`CURRENT_TURN`, a `TurnTarget`: the
channel, the chat's ordering key, the update and its holder); the conversation core, saving the
turn, then queues its replies here and marks the update handled, in its transaction. A crash
before that commit leaves the update to be handled again; after it, the replies are safe. An
agent's message is queued by the delivery loop when it may go, in the transaction that claims it.

The chat's holder sends its rows in order, within the channel's limits, and marks each sent (with
the channel's ids of its messages) or failed for good, in the transaction that takes the chat's
next update: a crash between a send and its mark sends that row once more, so duplicates are at
most the rows in flight.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from services.db import HotStatement, Sessions, run_writing, writing_connection
from services.models import Delivery, OutboxMessage, OutboxStatus, utcnow


@dataclass(frozen=True)
class Pending:
    """A row waiting to be sent: where it goes and what (`payload`, the channel's business)."""

    id: int
    chat_key: str
    payload: dict[str, Any]
    created_at: datetime


@dataclass
class TurnTarget:
    """The update a channel's runtime is handling, and where its replies go."""

    channel: str
    chat_key: str
    update_id: int | None = None
    owner: str = ""
    # Set by the core when it queued the replies and marked the update handled.
    queued: bool = False
    finished: bool = False
    rows: list[Pending] = field(default_factory=list)
    # Outcomes of rows the runtime sent since it last wrote: marked in the turn's transaction.
    sent: list[Outcome] = field(default_factory=list)
    # Whether the turn's transaction also takes the chat's next update (one transaction an update
    # instead of two), and the one it took (set once committed).
    take_next: bool = False
    next: Any = None


CURRENT_TURN: ContextVar[TurnTarget | None] = ContextVar("sellerbot_current_turn", default=None)

_outbox = OutboxMessage.__table__
_c = _outbox.c
_ROW_COLUMNS = ["channel", "chat_key", "conversation_id", "delivery_id", "payload", "status", "created_at"]
_ENQUEUE = HotStatement(insert(_outbox).returning(_c.id), column_keys=_ROW_COLUMNS)


def encode(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=True, separators=(",", ":"))


async def enqueue(
    connection: AsyncConnection,
    *,
    channel: str,
    chat_key: str,
    payload: dict[str, Any],
    now: datetime,
    conversation_id: int | None = None,
    delivery_id: int | None = None,
) -> Pending:
    """Queue one message for a chat (in the caller's transaction)."""
    return await connection.run_sync(
        lambda sync: queue_message(
            sync,
            channel=channel,
            chat_key=chat_key,
            payload=payload,
            now=now,
            conversation_id=conversation_id,
            delivery_id=delivery_id,
        )
    )


def queue_message(
    connection: Connection,
    *,
    channel: str,
    chat_key: str,
    payload: dict[str, Any],
    now: datetime,
    conversation_id: int | None = None,
    delivery_id: int | None = None,
) -> Pending:
    """`enqueue` for a caller running synchronous statements (`services.db.run_writing`)."""
    row = {
        "channel": channel,
        "chat_key": chat_key,
        "conversation_id": conversation_id,
        "delivery_id": delivery_id,
        "payload": encode(payload),
        "status": OutboxStatus.PENDING,
        "created_at": now,
    }
    outbox_id = int(_ENQUEUE.run(connection, row).scalar_one())
    return Pending(outbox_id, chat_key, payload, now)


_PENDING_OF_CHAT = HotStatement(
    select(_c.id, _c.chat_key, _c.payload, _c.created_at)
    .where(
        _c.channel == bindparam("b_channel"),
        _c.status == OutboxStatus.PENDING,
        _c.chat_key == bindparam("b_chat_key"),
    )
    .order_by(_c.id)
    .limit(bindparam("b_limit"))
)


def pending_in(connection: Connection, *, channel: str, chat_key: str, limit: int) -> list[Pending]:
    """The chat's oldest rows waiting to be sent (synchronous statements, see
    `services.db.run_writing`)."""
    rows = _PENDING_OF_CHAT.run(connection, {"b_channel": channel, "b_chat_key": chat_key, "b_limit": limit})
    return [Pending(row[0], row[1], json.loads(row[2]), row[3]) for row in rows]


def pending_chats(channel: str) -> Any:
    """A query of the chats with rows waiting (for the sweep that looks for chats with work)."""
    return select(_c.chat_key).where(_c.channel == channel, _c.status == OutboxStatus.PENDING)


@dataclass(frozen=True)
class Outcome:
    """What became of one row: sent (with the channel's message ids), or failed for good
    (`failure`: one of `services.handoff.DELIVERY_FAILURES`)."""

    id: int
    sent: bool
    message_ids: Sequence[str] = ()
    failure: str | None = None


_MARK = HotStatement(
    update(_outbox)
    .where(_c.id == bindparam("b_id"), _c.status == OutboxStatus.PENDING)
    .values(
        status=bindparam("b_status"),
        failure=bindparam("b_failure"),
        message_ids=bindparam("b_message_ids"),
        sent_at=bindparam("b_sent_at", type_=_c.sent_at.type),
    )
)
_deliveries = Delivery.__table__.c
# An agent's message the channel refused: the desk tells the agent (as for any failed delivery).
_DELIVERY_FAILED = (
    update(Delivery.__table__)
    .where(
        _deliveries.id == select(_c.delivery_id).where(_c.id == bindparam("b_id")).scalar_subquery(),
        _deliveries.failed_at.is_(None),
    )
    .values(
        failed_at=bindparam("b_sent_at", type_=_deliveries.failed_at.type), failure=bindparam("b_failure")
    )
)


def mark_in(connection: Connection, outcomes: Sequence[Outcome], *, now: datetime) -> None:
    """Mark rows sent or failed (in the caller's transaction, of synchronous statements)."""
    if not outcomes:
        return
    params = [
        {
            "b_id": o.id,
            "b_status": OutboxStatus.SENT if o.sent else OutboxStatus.FAILED,
            "b_failure": o.failure,
            "b_message_ids": json.dumps(list(o.message_ids)) if o.message_ids else None,
            "b_sent_at": now,
        }
        for o in outcomes
    ]
    failed = [p for p in params if p["b_status"] is OutboxStatus.FAILED]
    if failed:
        connection.execute(_DELIVERY_FAILED, failed)
    if len(params) == 1:  # one row, the usual case: a plain execute costs less than executemany
        _MARK.run(connection, params[0])
    else:
        _MARK.run(connection, params)


async def mark(sessions: Sessions, outcomes: Sequence[Outcome], *, now: datetime | None = None) -> None:
    """Mark rows sent or failed, in a transaction of their own."""
    if not outcomes:
        return
    now = now or utcnow()
    await run_writing(sessions, lambda connection: mark_in(connection, outcomes, now=now))


async def prune_sent(sessions: Sessions, *, channel: str, before: datetime) -> int:
    """Forget the channel's rows sent or failed before `before` (housekeeping: their text is in
    the transcript); rows waiting to be sent are never."""
    async with writing_connection(sessions) as connection:
        result = await connection.execute(
            delete(_outbox).where(
                _c.channel == channel, _c.status != OutboxStatus.PENDING, _c.sent_at < before
            )
        )
        return result.rowcount or 0
