"""Handing a conversation to a person, and back.

While a handoff is open (waiting for an agent, or active once one has answered) the bot stays
silent in that conversation and keeps the transcript. An agent's reply is stored as a turn
and queued as a delivery, which the seller's channel adapter sends on whichever process
serves that channel. Closing returns the conversation to the bot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services import audit
from services.db import Sessions, write_transaction
from services.linking import linked_account_id
from services.models import (
    AuditOutcome,
    Conversation,
    Delivery,
    Handoff,
    HandoffStatus,
    Turn,
    TurnDirection,
    utcnow,
)
from services.results import Done, Refused, Rule, Violation, refuse

OPEN_STATUSES = (HandoffStatus.WAITING, HandoffStatus.ACTIVE)
# An agent's message, like a seller's, is refused past this length rather than cut.
MAX_AGENT_TEXT = 4000


@dataclass(frozen=True)
class TranscriptLine:
    direction: str  # "in" (seller), "out" (bot or agent)
    author: str | None  # None: the seller (in) or the bot (out); "agent:<name>" for a person
    text: str
    intent: str | None
    at: datetime


@dataclass(frozen=True)
class HandoffView:
    id: int
    conversation_id: int
    channel: str
    chat_id: str
    thread_id: str
    user_id: str
    status: HandoffStatus
    reason: str
    language: str
    created_at: datetime
    first_reply_at: datetime | None
    agent: str | None
    closed_at: datetime | None
    account_id: int | None
    last_turns: tuple[TranscriptLine, ...]

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "conversation_id": self.conversation_id,
            "channel": self.channel,
            "chat_id": self.chat_id,
            "user_id": self.user_id,
            "status": self.status.value,
            "reason": self.reason,
            "language": self.language,
            "created_at": self.created_at.isoformat(),
            "first_reply_at": self.first_reply_at.isoformat() if self.first_reply_at else None,
            "agent": self.agent,
            "closed_at": self.closed_at.isoformat() if self.closed_at else None,
            "account_id": self.account_id,
            "last_turns": [
                {"direction": t.direction, "author": t.author, "text": t.text, "at": t.at.isoformat()}
                for t in self.last_turns
            ],
        }


@dataclass(frozen=True)
class DeliveryView:
    id: int
    conversation_id: int
    channel: str
    chat_id: str
    thread_id: str
    user_id: str
    text: str


# -- reading ------------------------------------------------------------------------------------
async def open_handoff_id(session: AsyncSession, *, conversation_id: int) -> int | None:
    return await session.scalar(
        select(Handoff.id).where(
            Handoff.conversation_id == conversation_id, Handoff.status.in_(OPEN_STATUSES)
        )
    )


async def _view(session: AsyncSession, handoff: Handoff, *, turns: int) -> HandoffView:
    conversation = await session.get(Conversation, handoff.conversation_id)
    assert conversation is not None  # the foreign key cascades
    rows = (
        await session.execute(
            select(Turn)
            .where(Turn.conversation_id == conversation.id)
            .order_by(Turn.created_at.desc(), Turn.id.desc())
            .limit(turns)
        )
    ).scalars()
    lines = tuple(
        TranscriptLine(
            direction=t.direction.value, author=t.author, text=t.text, intent=t.intent, at=t.created_at
        )
        for t in reversed(list(rows))
    )
    return HandoffView(
        id=handoff.id,
        conversation_id=conversation.id,
        channel=conversation.channel,
        chat_id=conversation.chat_id,
        thread_id=conversation.thread_id,
        user_id=conversation.user_id,
        status=handoff.status,
        reason=handoff.reason,
        language=handoff.language,
        created_at=handoff.created_at,
        first_reply_at=handoff.first_reply_at,
        agent=handoff.agent,
        closed_at=handoff.closed_at,
        account_id=await linked_account_id(
            session, channel=conversation.channel, chat_user_id=conversation.user_id
        ),
        last_turns=lines,
    )


async def get_handoff(session: AsyncSession, *, handoff_id: int, turns: int = 10) -> HandoffView | None:
    handoff = await session.get(Handoff, handoff_id)
    return None if handoff is None else await _view(session, handoff, turns=turns)


async def list_handoffs(
    session: AsyncSession, *, include_closed: bool = False, turns: int = 5
) -> list[HandoffView]:
    """Open handoffs, oldest first (the longest wait at the top); with closed ones if asked."""
    stmt = select(Handoff).order_by(Handoff.created_at, Handoff.id)
    if not include_closed:
        stmt = stmt.where(Handoff.status.in_(OPEN_STATUSES))
    return [await _view(session, h, turns=turns) for h in (await session.execute(stmt)).scalars()]


# -- changing -----------------------------------------------------------------------------------
async def start_handoff(
    *,
    sessions: Sessions,
    conversation_id: int,
    reason: str,
    language: str,
    actor: str,
    now: datetime | None = None,
) -> Done[HandoffView]:
    """Hand the conversation to a person. Asking again while one is open returns that one."""
    now = now or utcnow()

    async def work(session: AsyncSession) -> Done[HandoffView]:
        existing = await open_handoff_id(session, conversation_id=conversation_id)
        if existing is not None:
            handoff = await session.get(Handoff, existing)
            assert handoff is not None
            return Done(await _view(session, handoff, turns=10))
        handoff = Handoff(
            conversation_id=conversation_id,
            status=HandoffStatus.WAITING,
            reason=reason[:64],
            language=language,
            created_at=now,
        )
        session.add(handoff)
        await session.flush()  # the partial unique index refuses a concurrent second one
        audit.record(
            session,
            actor=actor,
            action="handoff_start",
            outcome=AuditOutcome.DONE,
            account_id=None,
            details={"handoff_id": handoff.id, "conversation_id": conversation_id, "reason": reason},
            now=now,
        )
        return Done(await _view(session, handoff, turns=10))

    return await write_transaction(sessions, work)


def _agent_text_violations(text: str) -> list[Violation]:
    cleaned = text.strip()
    if not cleaned:
        return [Violation(Rule.MESSAGE_INVALID, {"problem": "empty", "max": MAX_AGENT_TEXT})]
    if len(cleaned) > MAX_AGENT_TEXT:
        return [Violation(Rule.MESSAGE_INVALID, {"problem": "too_long", "max": MAX_AGENT_TEXT})]
    return []


async def _open_handoff(session: AsyncSession, handoff_id: int) -> Handoff | Refused:
    handoff = await session.get(Handoff, handoff_id)
    if handoff is None:
        return refuse(Violation(Rule.HANDOFF_NOT_FOUND, {"handoff_id": handoff_id}))
    if handoff.status is HandoffStatus.CLOSED:
        return refuse(Violation(Rule.HANDOFF_CLOSED, {"handoff_id": handoff_id}))
    return handoff


def _say_to_seller(session: AsyncSession, handoff: Handoff, text: str, *, author: str, now: datetime) -> None:
    session.add(
        Turn(
            conversation_id=handoff.conversation_id,
            direction=TurnDirection.OUT,
            text=text,
            language=handoff.language,
            author=author,
            created_at=now,
        )
    )
    session.add(Delivery(conversation_id=handoff.conversation_id, text=text, created_at=now))


async def agent_reply(
    *, sessions: Sessions, handoff_id: int, text: str, agent: str, now: datetime | None = None
) -> Done[HandoffView] | Refused:
    """An agent answers the seller: the message joins the transcript and is queued for the
    seller's channel. Refusals: HANDOFF_NOT_FOUND, HANDOFF_CLOSED, MESSAGE_INVALID."""
    now = now or utcnow()
    if violations := _agent_text_violations(text):
        return refuse(*violations)

    async def work(session: AsyncSession) -> Done[HandoffView] | Refused:
        handoff = await _open_handoff(session, handoff_id)
        if isinstance(handoff, Refused):
            return handoff
        if handoff.first_reply_at is None:
            handoff.first_reply_at = now
        handoff.status = HandoffStatus.ACTIVE
        handoff.agent = handoff.agent or agent
        _say_to_seller(session, handoff, text.strip(), author=f"agent:{agent}", now=now)
        audit.record(
            session,
            actor=f"agent:{agent}",
            action="handoff_reply",
            outcome=AuditOutcome.DONE,
            account_id=None,
            details={"handoff_id": handoff_id},
            now=now,
        )
        await session.flush()
        return Done(await _view(session, handoff, turns=10))

    return await write_transaction(sessions, work)


async def close_handoff(
    *,
    sessions: Sessions,
    handoff_id: int,
    closed_by: str,
    notice: str | None = None,
    now: datetime | None = None,
) -> Done[HandoffView] | Refused:
    """Return the conversation to the bot; `notice` (in the seller's language) tells them so.
    Refusals: HANDOFF_NOT_FOUND, HANDOFF_CLOSED."""
    now = now or utcnow()

    async def work(session: AsyncSession) -> Done[HandoffView] | Refused:
        handoff = await _open_handoff(session, handoff_id)
        if isinstance(handoff, Refused):
            return handoff
        handoff.status = HandoffStatus.CLOSED
        handoff.closed_at = now
        handoff.closed_by = closed_by
        if notice:
            _say_to_seller(session, handoff, notice, author=None, now=now)
        audit.record(
            session,
            actor=closed_by,
            action="handoff_close",
            outcome=AuditOutcome.DONE,
            account_id=None,
            details={"handoff_id": handoff_id},
            now=now,
        )
        await session.flush()
        return Done(await _view(session, handoff, turns=10))

    return await write_transaction(sessions, work)


# -- deliveries ---------------------------------------------------------------------------------
async def pending_deliveries(
    session: AsyncSession, *, channel: str, chat_id: str | None = None, limit: int = 100
) -> list[DeliveryView]:
    """Messages waiting to be sent on a channel (or to one chat of it), oldest first."""
    stmt = (
        select(Delivery, Conversation)
        .join(Conversation, Conversation.id == Delivery.conversation_id)
        .where(Delivery.delivered_at.is_(None), Conversation.channel == channel)
        .order_by(Delivery.id)
        .limit(limit)
    )
    if chat_id is not None:
        stmt = stmt.where(Conversation.chat_id == chat_id)
    return [
        DeliveryView(
            id=d.id,
            conversation_id=c.id,
            channel=c.channel,
            chat_id=c.chat_id,
            thread_id=c.thread_id,
            user_id=c.user_id,
            text=d.text,
        )
        for d, c in (await session.execute(stmt)).all()
    ]


async def mark_delivered(
    *, sessions: Sessions, delivery_ids: Sequence[int], now: datetime | None = None
) -> int:
    """Mark deliveries sent; returns how many this call marked (a concurrent sender's are skipped)."""
    if not delivery_ids:
        return 0
    now = now or utcnow()

    async def work(session: AsyncSession) -> int:
        result = await session.execute(
            update(Delivery)
            .where(Delivery.id.in_(list(delivery_ids)), Delivery.delivered_at.is_(None))
            .values(delivered_at=now)
        )
        return result.rowcount or 0

    return await write_transaction(sessions, work)


__all__ = [
    "DeliveryView",
    "HandoffView",
    "agent_reply",
    "close_handoff",
    "get_handoff",
    "list_handoffs",
    "mark_delivered",
    "open_handoff_id",
    "pending_deliveries",
    "start_handoff",
]
