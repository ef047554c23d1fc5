"""Handing a conversation to a person, and back.

While a handoff is open (waiting for an agent, or active once one has answered) the bot stays
silent in that conversation and keeps the transcript (with the seller's files). An agent's reply
(text, a file, or both; it may quote one of the seller's messages) is stored as a turn and
queued as a delivery, which the seller's channel adapter sends on whichever process serves that
channel. Closing returns the conversation to the bot and records how it ended (the resolution);
the seller may then rate the help, once.

The rules, with their tests: docs/domain.md#handoff_taken, docs/domain.md#handoff_closed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from services import audit, outbox
from services.db import Sessions, write_transaction, writing_connection
from services.linking import linked_account_id
from services.models import (
    AuditOutcome,
    Conversation,
    Delivery,
    Handoff,
    HandoffResolution,
    HandoffStatus,
    Turn,
    TurnDirection,
    TurnKind,
    Upload,
    utcnow,
)
from services.results import Done, Refused, Rule, Violation, refuse
from services.uploads import new_upload

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
    closed_by: str | None = None
    resolution: HandoffResolution | None = None
    rating: int | None = None
    display_name: str = ""
    claimed_by: str | None = None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def holder(self) -> str | None:
        """Who has the conversation: the agent who claimed it, else the first who answered."""
        return self.claimed_by or self.agent

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
            "resolution": self.resolution.value if self.resolution else None,
            "rating": self.rating,
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
    # (button id, label) pairs; the meaning of each is in the conversation state
    buttons: tuple[tuple[str, str], ...] = ()
    upload_id: int | None = None
    # the channel's id of the seller's message this one answers
    reply_to: str | None = None


@dataclass(frozen=True)
class FileData:
    """A file that goes with a message (an agent's photo or document)."""

    name: str
    data: bytes
    mime_type: str = ""


@dataclass(frozen=True)
class StoredFile:
    id: int
    name: str
    mime_type: str
    data: bytes = field(repr=False)


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
        closed_by=handoff.closed_by,
        resolution=handoff.resolution,
        rating=handoff.rating,
        display_name=conversation.display_name or "",
        claimed_by=handoff.claimed_by,
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


def queue_delivery(
    session: AsyncSession,
    *,
    conversation_id: int,
    text: str,
    now: datetime,
    buttons: Sequence[tuple[str, str]] = (),
    upload_id: int | None = None,
    reply_to: str | None = None,
) -> Delivery:
    """Queue a message for the seller's channel (in the caller's transaction)."""
    delivery = Delivery(
        conversation_id=conversation_id,
        text=text,
        buttons=[[bid, label] for bid, label in buttons] or None,
        upload_id=upload_id,
        reply_to=reply_to,
        created_at=now,
    )
    session.add(delivery)
    return delivery


async def _say_to_seller(
    session: AsyncSession,
    handoff: Handoff,
    text: str,
    *,
    author: str | None,
    now: datetime,
    shown: str | None = None,
    file: FileData | None = None,
    reply_to: str | None = None,
    typed: str | None = None,
) -> Turn:
    """The message joins the transcript (as `text`; `typed`, what the agent wrote, alone) and is
    queued for the seller (as `shown`)."""
    turn = Turn(
        conversation_id=handoff.conversation_id,
        direction=TurnDirection.OUT,
        text=text,
        language=handoff.language,
        author=author,
        created_at=now,
        kind=TurnKind.FILE if file is not None else TurnKind.TEXT,
        typed_text=typed,
    )
    session.add(turn)
    upload_id = None
    if file is not None:
        await session.flush()
        upload = new_upload(
            handoff.conversation_id,
            file.data,
            now=now,
            name=file.name,
            mime_type=file.mime_type,
            turn_id=turn.id,
        )
        session.add(upload)
        await session.flush()
        upload_id = upload.id
    queue_delivery(
        session,
        conversation_id=handoff.conversation_id,
        text=text if shown is None else shown,
        now=now,
        upload_id=upload_id,
        reply_to=reply_to,
    )
    return turn


def file_description(name: str, size: int) -> str:
    """How a file appears in the transcript (the core writes the seller's files the same way)."""
    return f"[file {name} {size} bytes]"


async def agent_reply(
    *,
    sessions: Sessions,
    handoff_id: int,
    text: str,
    agent: str,
    now: datetime | None = None,
    shown: str | None = None,
    file: FileData | None = None,
    reply_to_turn_id: int | None = None,
) -> Done[HandoffView] | Refused:
    """An agent answers the seller: the message joins the transcript and is queued for the
    seller's channel. `shown` is what the seller reads, if not `text` itself (the agent's name in
    front, say); `file` goes with it (then `text`, its caption, may be empty); `reply_to_turn_id`
    is the seller's message it answers, quoted where the seller's channel can.
    Refusals: HANDOFF_NOT_FOUND, HANDOFF_CLOSED, MESSAGE_INVALID."""
    now = now or utcnow()
    cleaned = text.strip()
    if file is None or cleaned:
        if violations := _agent_text_violations(text):
            return refuse(*violations)

    async def work(session: AsyncSession) -> Done[HandoffView] | Refused:
        handoff = await _open_handoff(session, handoff_id)
        if isinstance(handoff, Refused):
            return handoff
        if handoff.claimed_by is not None and handoff.claimed_by != agent:
            return refuse(
                Violation(Rule.HANDOFF_TAKEN, {"handoff_id": handoff_id, "agent": handoff.claimed_by})
            )
        if handoff.first_reply_at is None:
            handoff.first_reply_at = now
        handoff.status = HandoffStatus.ACTIVE
        handoff.agent = handoff.agent or agent
        reply_to = None
        if reply_to_turn_id is not None:
            quoted = await session.get(Turn, reply_to_turn_id)
            if quoted is not None and quoted.conversation_id == handoff.conversation_id:
                reply_to = quoted.channel_message_id
        transcript = " ".join(
            part for part in (cleaned, file and file_description(file.name, len(file.data))) if part
        )
        await _say_to_seller(
            session,
            handoff,
            transcript,
            author=f"agent:{agent}",
            now=now,
            shown=(shown.strip() if shown is not None else cleaned),
            file=file,
            reply_to=reply_to,
            typed=cleaned,
        )
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


async def claim_handoff(
    *,
    sessions: Sessions,
    handoff_id: int,
    agent: str,
    actor: str,
    reassign: bool = False,
    now: datetime | None = None,
) -> Done[HandoffView] | Refused:
    """`agent` takes the conversation: from now on only they answer it, from any desk. Claiming
    one's own claim again changes nothing. With `reassign` (a lead), a claim moves to `agent`
    whoever held it. Refusals: HANDOFF_NOT_FOUND, HANDOFF_CLOSED, HANDOFF_TAKEN (another agent
    claimed it first: two agents claiming at once get one owner)."""
    now = now or utcnow()

    async def work(session: AsyncSession) -> Done[HandoffView] | Refused:
        handoff = await _open_handoff(session, handoff_id)
        if isinstance(handoff, Refused):
            return handoff
        # The conditional UPDATE is the claim: of two at once, one finds the row already taken.
        claim = (
            update(Handoff)
            .where(Handoff.id == handoff_id, Handoff.status != HandoffStatus.CLOSED)
            .values(claimed_by=agent, claimed_at=now)
            .execution_options(synchronize_session=False)
        )
        if not reassign:
            # Nobody else's: not claimed, and not being answered from another desk (the Telegram
            # desk's agents answer without claiming; the first of them counts as the holder).
            claim = claim.where(
                or_(Handoff.claimed_by.is_(None), Handoff.claimed_by == agent),
                or_(Handoff.claimed_by.is_not(None), Handoff.agent.is_(None), Handoff.agent == agent),
            )
        claimed = await session.execute(claim)
        if claimed.rowcount != 1:
            await session.refresh(handoff)
            holder = handoff.claimed_by or handoff.agent
            return refuse(Violation(Rule.HANDOFF_TAKEN, {"handoff_id": handoff_id, "agent": holder}))
        previous = handoff.claimed_by
        await session.refresh(handoff)
        if previous != agent:
            audit.record(
                session,
                actor=actor,
                action="handoff_reassign" if reassign else "handoff_claim",
                outcome=AuditOutcome.DONE,
                account_id=None,
                details={"handoff_id": handoff_id, "agent": agent, "previous": previous},
                now=now,
            )
        return Done(await _view(session, handoff, turns=10))

    return await write_transaction(sessions, work)


async def close_open_handoff(
    session: AsyncSession,
    *,
    handoff_id: int,
    closed_by: str,
    now: datetime,
    seller_left: bool = False,
    notice: str | None = None,
) -> Handoff | Refused:
    """Close the handoff in the caller's transaction, recording how it ended; `notice` (in the
    seller's language) tells the seller. Refusals: HANDOFF_NOT_FOUND, HANDOFF_CLOSED."""
    handoff = await _open_handoff(session, handoff_id)
    if isinstance(handoff, Refused):
        return handoff
    handoff.status = HandoffStatus.CLOSED
    handoff.closed_at = now
    handoff.closed_by = closed_by
    if seller_left:
        handoff.resolution = HandoffResolution.SELLER_LEFT
    elif handoff.first_reply_at is not None:
        handoff.resolution = HandoffResolution.RESOLVED
    else:
        handoff.resolution = HandoffResolution.UNANSWERED
    if notice:
        await _say_to_seller(session, handoff, notice, author=None, now=now)
    audit.record(
        session,
        actor=closed_by,
        action="handoff_close",
        outcome=AuditOutcome.DONE,
        account_id=None,
        details={"handoff_id": handoff_id, "resolution": handoff.resolution.value},
        now=now,
    )
    await session.flush()
    return handoff


async def close_handoff(
    *,
    sessions: Sessions,
    handoff_id: int,
    closed_by: str,
    notice: str | None = None,
    now: datetime | None = None,
    seller_left: bool = False,
) -> Done[HandoffView] | Refused:
    """Return the conversation to the bot; `notice` (in the seller's language) tells them so.
    Refusals: HANDOFF_NOT_FOUND, HANDOFF_CLOSED."""
    now = now or utcnow()

    async def work(session: AsyncSession) -> Done[HandoffView] | Refused:
        handoff = await close_open_handoff(
            session,
            handoff_id=handoff_id,
            closed_by=closed_by,
            now=now,
            seller_left=seller_left,
            notice=notice,
        )
        if isinstance(handoff, Refused):
            return handoff
        return Done(await _view(session, handoff, turns=10))

    return await write_transaction(sessions, work)


async def rate_handoff(
    *, sessions: Sessions, handoff_id: int, conversation_id: int, stars: int, now: datetime | None = None
) -> bool:
    """Record the seller's rating (1–5) of a closed handoff of their conversation. True if this
    call recorded it; a handoff is rated once (a second press, another process) and only by its
    own conversation."""
    if not 1 <= stars <= 5:
        return False
    now = now or utcnow()

    async def work(session: AsyncSession) -> bool:
        result = await session.execute(
            update(Handoff)
            .where(
                Handoff.id == handoff_id,
                Handoff.conversation_id == conversation_id,
                Handoff.status == HandoffStatus.CLOSED,
                Handoff.rating.is_(None),
            )
            .values(rating=stars, rated_at=now)
        )
        if (result.rowcount or 0) != 1:
            return False
        audit.record(
            session,
            actor=f"conversation:{conversation_id}",
            action="handoff_rate",
            outcome=AuditOutcome.DONE,
            account_id=None,
            details={"handoff_id": handoff_id, "rating": stars},
            now=now,
        )
        return True

    return await write_transaction(sessions, work)


# -- deliveries ---------------------------------------------------------------------------------
# Table columns (a Core statement skips the ORM's execution path: this runs at every turn).
_deliveries, _conversations = Delivery.__table__.c, Conversation.__table__.c
_PENDING = (
    select(
        _deliveries.id,
        _conversations.id,
        _conversations.channel,
        _conversations.chat_id,
        _conversations.thread_id,
        _conversations.user_id,
        _deliveries.text,
        _deliveries.buttons,
        _deliveries.upload_id,
        _deliveries.reply_to,
    )
    .join_from(Delivery.__table__, Conversation.__table__, _conversations.id == _deliveries.conversation_id)
    .where(
        _deliveries.delivered_at.is_(None),
        _deliveries.held_at.is_(None),
        _conversations.channel == bindparam("channel"),
    )
    .order_by(_deliveries.id)
    .limit(bindparam("limit"))
)
_PENDING_IN_CHAT = _PENDING.where(_conversations.chat_id == bindparam("chat_id"))


async def pending_deliveries(
    session: AsyncSession | AsyncConnection, *, channel: str, chat_id: str | None = None, limit: int = 100
) -> list[DeliveryView]:
    """Messages waiting to be sent on a channel (or to one chat of it), oldest first; those held
    until the seller writes again are left out."""
    params: dict[str, object] = {"channel": channel, "limit": limit}
    if chat_id is not None:
        params["chat_id"] = chat_id
    rows = await session.execute(_PENDING if chat_id is None else _PENDING_IN_CHAT, params)
    return [
        DeliveryView(
            id=delivery_id,
            conversation_id=conversation_id,
            channel=conversation_channel,
            chat_id=conversation_chat,
            thread_id=thread_id,
            user_id=user_id,
            text=text,
            buttons=tuple((str(b[0]), str(b[1])) for b in buttons or ()),
            upload_id=upload_id,
            reply_to=reply_to,
        )
        for (
            delivery_id,
            conversation_id,
            conversation_channel,
            conversation_chat,
            thread_id,
            user_id,
            text,
            buttons,
            upload_id,
            reply_to,
        ) in rows.all()
    ]


async def load_file(session: AsyncSession, upload_id: int) -> StoredFile | None:
    upload = await session.get(Upload, upload_id)
    if upload is None:
        return None
    return StoredFile(
        id=upload.id, name=upload.name or "file", mime_type=upload.mime_type or "", data=upload.data
    )


async def turn_files(session: AsyncSession, turn_id: int) -> list[StoredFile]:
    """The files that came with a turn (a seller's photo during a handoff), in order."""
    rows = (
        await session.execute(select(Upload).where(Upload.turn_id == turn_id).order_by(Upload.id))
    ).scalars()
    return [
        StoredFile(id=u.id, name=u.name or "file", mime_type=u.mime_type or "", data=u.data) for u in rows
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


def delivery_to_json(delivery: DeliveryView) -> dict[str, object]:
    """A delivery as an outbox row's payload (`delivery_from_json` gives it back)."""
    return {"delivery": {**dataclasses.asdict(delivery), "buttons": [list(b) for b in delivery.buttons]}}


def delivery_from_json(payload: dict[str, Any]) -> DeliveryView | None:
    """The delivery an outbox row sends, if it sends one."""
    data = payload.get("delivery")
    if not isinstance(data, dict):
        return None
    return DeliveryView(
        **{**data, "buttons": tuple((str(b[0]), str(b[1])) for b in data.get("buttons") or ())}
    )


async def hand_to_outbox(
    sessions: Sessions, delivery: DeliveryView, *, chat_key: str, now: datetime | None = None
) -> bool:
    """Claim a delivery (mark it delivered) and put it in its chat's outbox, in one transaction;
    False if another process claimed it first."""
    now = now or utcnow()
    async with writing_connection(sessions) as connection:
        claimed = await connection.execute(
            update(Delivery.__table__)
            .where(_deliveries.id == delivery.id, _deliveries.delivered_at.is_(None))
            .values(delivered_at=now)
        )
        if claimed.rowcount != 1:
            return False
        await outbox.enqueue(
            connection,
            channel=delivery.channel,
            chat_key=chat_key,
            payload=delivery_to_json(delivery),
            now=now,
            conversation_id=delivery.conversation_id,
            delivery_id=delivery.id,
        )
        return True


DELIVERY_FAILURES = ("blocked", "refused", "error")
# A delivery the channel holds until the seller writes again (reported to agents like a failure).
HELD = "held"


async def hold_delivery(*, sessions: Sessions, delivery_id: int, now: datetime | None = None) -> None:
    """The seller's channel cannot send this delivery now (QQ's reply window has closed): it waits
    for the seller's next message (`release_held`), and the agents' desk says so."""
    now = now or utcnow()

    async def work(session: AsyncSession) -> None:
        await session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id, Delivery.delivered_at.is_(None), Delivery.held_at.is_(None))
            .values(held_at=now)
        )

    await write_transaction(sessions, work)


async def release_held(
    *, sessions: Sessions, channel: str, chat_id: str, thread_id: str, user_id: str
) -> int:
    """The seller wrote again: their conversation's held deliveries may go now. Returns how many."""
    conversation = select(Conversation.id).where(
        Conversation.channel == channel,
        Conversation.chat_id == chat_id,
        Conversation.thread_id == thread_id,
        Conversation.user_id == user_id,
    )

    held = (
        select(Delivery.id)
        .where(
            Delivery.conversation_id.in_(conversation),
            Delivery.delivered_at.is_(None),
            Delivery.held_at.is_not(None),
        )
        .limit(1)
    )
    # Most messages have nothing held: a read says so without taking the write lock.
    async with sessions() as session:
        if await session.scalar(held) is None:
            return 0

    async def work(session: AsyncSession) -> int:
        result = await session.execute(
            update(Delivery)
            .where(
                Delivery.conversation_id.in_(conversation),
                Delivery.delivered_at.is_(None),
                Delivery.held_at.is_not(None),
            )
            .values(held_at=None, held_noticed_at=None)
        )
        return result.rowcount or 0

    return await write_transaction(sessions, work)


async def mark_delivery_failed(
    *, sessions: Sessions, delivery_id: int, failure: str, now: datetime | None = None
) -> None:
    """The seller's channel refused a delivery for good (`failure`: one of DELIVERY_FAILURES);
    the agents' desk will say so in the conversation's topic."""
    if failure not in DELIVERY_FAILURES:
        raise ValueError(f"unknown delivery failure {failure!r}")
    now = now or utcnow()

    async def work(session: AsyncSession) -> None:
        await session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id, Delivery.failed_at.is_(None))
            .values(failed_at=now, failure=failure)
        )

    await write_transaction(sessions, work)


@dataclass(frozen=True)
class FailedDelivery:
    id: int
    text: str
    failure: str
    failed_at: datetime


async def unnoticed_failures(
    session: AsyncSession, *, conversation_id: int, since: datetime
) -> list[FailedDelivery]:
    """Deliveries of the conversation since `since` that failed, or are held until the seller
    writes again (`failure` "held"), and were not reported yet; oldest first."""
    rows = await session.scalars(
        select(Delivery)
        .where(
            Delivery.conversation_id == conversation_id,
            Delivery.created_at >= since,
            or_(
                and_(Delivery.failed_at.is_not(None), Delivery.failure_noticed_at.is_(None)),
                and_(
                    Delivery.held_at.is_not(None),
                    Delivery.held_noticed_at.is_(None),
                    Delivery.delivered_at.is_(None),
                ),
            ),
        )
        .order_by(Delivery.id)
    )
    found = []
    for d in rows:
        if d.failed_at is not None and d.failure_noticed_at is None:
            found.append(FailedDelivery(d.id, d.text, d.failure or "error", d.failed_at))
        elif d.held_at is not None:
            found.append(FailedDelivery(d.id, d.text, HELD, d.held_at))
    return found


async def held_deliveries(session: AsyncSession, *, conversation_id: int) -> list[str]:
    """The texts of the conversation's deliveries held until the seller writes again."""
    rows = await session.scalars(
        select(Delivery.text)
        .where(
            Delivery.conversation_id == conversation_id,
            Delivery.held_at.is_not(None),
            Delivery.delivered_at.is_(None),
        )
        .order_by(Delivery.id)
    )
    return list(rows)


async def claim_failure_notice(
    *, sessions: Sessions, delivery_id: int, now: datetime | None = None, held: bool = False
) -> bool:
    """True for the one caller that reports this failure (or this hold): two desk processes never
    both do."""
    now = now or utcnow()
    noticed = Delivery.held_noticed_at if held else Delivery.failure_noticed_at

    async def work(session: AsyncSession) -> bool:
        result = await session.execute(
            update(Delivery).where(Delivery.id == delivery_id, noticed.is_(None)).values({noticed: now})
        )
        return (result.rowcount or 0) == 1

    return await write_transaction(sessions, work)


__all__ = [
    "DELIVERY_FAILURES",
    "DeliveryView",
    "FailedDelivery",
    "FileData",
    "HandoffView",
    "StoredFile",
    "agent_reply",
    "claim_failure_notice",
    "close_handoff",
    "close_open_handoff",
    "file_description",
    "get_handoff",
    "held_deliveries",
    "hold_delivery",
    "list_handoffs",
    "load_file",
    "mark_delivered",
    "mark_delivery_failed",
    "open_handoff_id",
    "pending_deliveries",
    "queue_delivery",
    "rate_handoff",
    "release_held",
    "start_handoff",
    "turn_files",
    "unnoticed_failures",
]
