"""Sending on channels with rules about when the bot may speak (the official QQ API), and the
record of what was sent there.

Reply windows: such a channel lets the bot send only in answer to a seller's message, within a
while of it and a few times per message, each answer numbered. `open_window` records a seller's
newest message when it is handled; `take_reply` hands out the next answer to it — its reference and
number — or None once the window has closed or is used up, atomically, so two processes never
send two answers with one number.

Outcomes: every message sent on such a channel leaves a row — its id on the channel (a seller who
replies to it is talking to the bot), or why it could not be sent, or that its fate is unknown
(a timeout: it may have arrived, and is never sent again).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.db import Sessions, write_transaction
from services.models import OutboundMessage, ReplyWindow, SendOutcome, utcnow

SUMMARY_CHARS = 500


@dataclass(frozen=True)
class WindowRule:
    """How long after a message the bot may answer it, and how many times."""

    minutes: float
    replies: int


@dataclass(frozen=True)
class Answer:
    """One answer a window allows: what it refers to (`msg_id` or `event_id`) and its number."""

    reference: str
    reference_kind: str
    seq: int


def _insert(session: AsyncSession):
    return pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert


async def open_window(
    sessions: Sessions,
    *,
    channel: str,
    chat_key: str,
    user_id: str,
    reference: str,
    opened_at: datetime,
    reference_kind: str = "msg_id",
) -> None:
    """A seller's message the bot may answer; it replaces an older one (never a newer one)."""

    async def work(session: AsyncSession) -> None:
        stmt = _insert(session)(ReplyWindow).values(
            channel=channel,
            chat_key=chat_key,
            user_id=user_id,
            reference=reference,
            reference_kind=reference_kind,
            opened_at=opened_at,
            used=0,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["channel", "chat_key", "user_id"],
            set_={
                "reference": stmt.excluded.reference,
                "reference_kind": stmt.excluded.reference_kind,
                "opened_at": stmt.excluded.opened_at,
                "used": 0,
            },
            where=and_(ReplyWindow.opened_at <= stmt.excluded.opened_at, ReplyWindow.reference != reference),
        )
        await session.execute(stmt)

    await write_transaction(sessions, work)


def _open_window_of(
    channel: str, chat_key: str, user_id: str, rule: WindowRule, now: datetime, margin: timedelta
):
    """The seller's window, if it is still open. An answer must reach the platform before the
    window closes: `margin` is kept for the trip."""
    return and_(
        ReplyWindow.channel == channel,
        ReplyWindow.chat_key == chat_key,
        ReplyWindow.user_id == user_id,
        ReplyWindow.opened_at > now - timedelta(minutes=rule.minutes) + margin,
        ReplyWindow.used < rule.replies,
    )


async def take_reply(
    sessions: Sessions,
    *,
    channel: str,
    chat_key: str,
    user_id: str,
    rule: WindowRule,
    now: datetime | None = None,
    margin: timedelta = timedelta(seconds=10),
) -> Answer | None:
    """The next answer the seller's newest message allows, or None (closed, or used up)."""
    now = now or utcnow()

    async def work(session: AsyncSession) -> Answer | None:
        row = (
            await session.execute(
                update(ReplyWindow)
                .where(_open_window_of(channel, chat_key, user_id, rule, now, margin))
                .values(used=ReplyWindow.used + 1)
                .returning(ReplyWindow.reference, ReplyWindow.reference_kind, ReplyWindow.used)
            )
        ).first()
        return Answer(row[0], row[1], row[2]) if row is not None else None

    return await write_transaction(sessions, work)


async def window_open(
    sessions: Sessions,
    *,
    channel: str,
    chat_key: str,
    user_id: str,
    rule: WindowRule,
    now: datetime | None = None,
    margin: timedelta = timedelta(seconds=10),
) -> bool:
    """Whether the seller's newest message may still be answered (without taking an answer)."""
    now = now or utcnow()
    async with sessions() as session:
        found = await session.scalar(
            select(ReplyWindow.reference).where(
                _open_window_of(channel, chat_key, user_id, rule, now, margin)
            )
        )
    return found is not None


@dataclass(frozen=True)
class Sent:
    """What became of one message (see `record`)."""

    outcome: SendOutcome
    summary: str
    failure: str | None = None
    channel_message_id: str | None = None


async def record(
    sessions: Sessions,
    *,
    channel: str,
    chat_key: str,
    sent: list[Sent],
    reply_to: str | None = None,
    now: datetime | None = None,
) -> None:
    """Record what became of the messages of one answer to a chat, in one transaction."""
    now = now or utcnow()

    async def work(session: AsyncSession) -> None:
        session.add_all(
            OutboundMessage(
                channel=channel,
                chat_key=chat_key,
                outcome=item.outcome,
                summary=item.summary[:SUMMARY_CHARS],
                failure=item.failure,
                channel_message_id=item.channel_message_id,
                reply_to=reply_to or None,
                created_at=now,
            )
            for item in sent
        )

    await write_transaction(sessions, work)


async def sent_by_bot(sessions: Sessions, *, channel: str, chat_key: str, message_id: str) -> bool:
    """Whether the channel's message `message_id` in this chat is one the bot sent."""
    if not message_id:
        return False
    async with sessions() as session:
        found = await session.scalar(
            select(OutboundMessage.id)
            .where(
                OutboundMessage.channel == channel,
                OutboundMessage.chat_key == chat_key,
                OutboundMessage.channel_message_id == message_id,
            )
            .limit(1)
        )
    return found is not None


@dataclass(frozen=True)
class OutcomeView:
    chat_key: str
    outcome: SendOutcome
    summary: str
    failure: str | None
    channel_message_id: str | None
    reply_to: str | None
    created_at: datetime


async def outcomes(
    session: AsyncSession, *, channel: str, chat_key: str | None = None, limit: int = 100
) -> list[OutcomeView]:
    """The latest records of a channel (or one chat of it), newest last."""
    stmt = select(OutboundMessage).where(OutboundMessage.channel == channel)
    if chat_key is not None:
        stmt = stmt.where(OutboundMessage.chat_key == chat_key)
    rows = (await session.execute(stmt.order_by(OutboundMessage.id.desc()).limit(limit))).scalars()
    return [
        OutcomeView(
            r.chat_key, r.outcome, r.summary, r.failure, r.channel_message_id, r.reply_to, r.created_at
        )
        for r in reversed(list(rows))
    ]
