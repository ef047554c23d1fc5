"""The agents' desk, channel-neutral part: which conversation each topic of the desk group is,
what the desk has done for each handoff, and what each of its messages stands for.

A desk is a group chat of some channel (a Telegram forum supergroup today) where each handed-off
conversation has a topic of its own (`DeskTopic`: one per conversation and group — the database
refuses a second). For each handoff the desk keeps its context card, how far the seller's
messages are relayed, the last reminder and the notices once it is closed and rated
(`DeskHandoff`); every message the desk posts or relays is mapped to what it stands for
(`DeskMessage`): a seller's turn, an agent's turn, a suggested answer, a note. The desk adapter
(bot/telegram/desk) does the talking; nothing here knows a chat library.

Claims (a notice, a reminder, a suggested answer) are single UPDATEs that succeed for one caller
only, so that two processes never both act.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services import audit
from services.accounts import AccountView, get_account
from services.db import Sessions, write_transaction
from services.handoff import OPEN_STATUSES, HandoffView, get_handoff
from services.models import (
    AuditOutcome,
    Delivery,
    DeskHandoff,
    DeskMessage,
    DeskMessageKind,
    DeskTopic,
    Handoff,
    HandoffStatus,
    Turn,
    TurnDirection,
    TurnKind,
    Upload,
)
from services.policy import Policy
from services.stores import StoreView, list_stores


class TopicExists(Exception):
    """The conversation already has a topic in this desk (another process made it)."""


@dataclass(frozen=True)
class TopicView:
    id: int
    chat_id: str
    conversation_id: int
    thread_id: int
    name: str
    closed: bool
    language: str


@dataclass(frozen=True)
class DeskHandoffView:
    handoff_id: int
    topic_id: int
    card_message_id: int | None
    relayed_turn_id: int
    reminded_for: datetime | None
    closed_noticed_at: datetime | None
    rating_noticed_at: datetime | None


@dataclass(frozen=True)
class SellerTurn:
    id: int
    text: str  # the seller's words, without the descriptions of files
    described: str  # the transcript line (files described by name and size)
    language: str | None
    created_at: datetime
    button_only: bool


@dataclass(frozen=True)
class DeskMessageView:
    id: int
    topic_id: int
    handoff_id: int | None
    message_id: int | None
    kind: DeskMessageKind
    turn_id: int | None
    text: str | None
    intent: str | None
    author: str | None
    sent_at: datetime | None


@dataclass(frozen=True)
class Context:
    """What the context card shows: the handoff with its last turns, and the seller's account."""

    handoff: HandoffView
    account: AccountView | None
    stores: tuple[StoreView, ...]


def _topic(row: DeskTopic) -> TopicView:
    return TopicView(
        id=row.id,
        chat_id=row.chat_id,
        conversation_id=row.conversation_id,
        thread_id=row.thread_id,
        name=row.name,
        closed=row.closed,
        language=row.language,
    )


def _desk(row: DeskHandoff) -> DeskHandoffView:
    return DeskHandoffView(
        handoff_id=row.handoff_id,
        topic_id=row.topic_id,
        card_message_id=row.card_message_id,
        relayed_turn_id=row.relayed_turn_id,
        reminded_for=row.reminded_for,
        closed_noticed_at=row.closed_noticed_at,
        rating_noticed_at=row.rating_noticed_at,
    )


def _message(row: DeskMessage) -> DeskMessageView:
    return DeskMessageView(
        id=row.id,
        topic_id=row.topic_id,
        handoff_id=row.handoff_id,
        message_id=row.message_id,
        kind=row.kind,
        turn_id=row.turn_id,
        text=row.text,
        intent=row.intent,
        author=row.author,
        sent_at=row.sent_at,
    )


# -- what needs doing ---------------------------------------------------------------------------
def _unfinished(chat_id: str):
    """A handoff the desk still owes something: open without a card, open with seller turns not
    yet relayed, closed without the closing notice, rated without the rating notice, an agent's
    message that did not reach the seller and was not reported."""
    desk_of_this_chat = and_(
        DeskHandoff.handoff_id.is_not(None),
        DeskTopic.chat_id == chat_id,
    )
    unrelayed = exists().where(
        Turn.conversation_id == Handoff.conversation_id,
        Turn.direction == TurnDirection.IN,
        Turn.id > DeskHandoff.relayed_turn_id,
        Turn.created_at >= Handoff.created_at,
    )
    # An agent's message the seller's channel refused, not yet reported in the topic.
    undelivered = exists().where(
        Delivery.conversation_id == Handoff.conversation_id,
        Delivery.created_at >= Handoff.created_at,
        or_(
            and_(Delivery.failed_at.is_not(None), Delivery.failure_noticed_at.is_(None)),
            # held until the seller writes again (QQ's reply window), not yet reported
            and_(Delivery.held_at.is_not(None), Delivery.held_noticed_at.is_(None)),
        ),
    )
    return or_(
        and_(Handoff.status.in_(OPEN_STATUSES), DeskHandoff.handoff_id.is_(None)),
        and_(
            desk_of_this_chat,
            or_(
                and_(Handoff.status.in_(OPEN_STATUSES), unrelayed),
                and_(Handoff.status == HandoffStatus.CLOSED, DeskHandoff.closed_noticed_at.is_(None)),
                and_(Handoff.rating.is_not(None), DeskHandoff.rating_noticed_at.is_(None)),
                undelivered,
            ),
        ),
    )


def _with_desk(stmt):
    return stmt.outerjoin(DeskHandoff, DeskHandoff.handoff_id == Handoff.id).outerjoin(
        DeskTopic, DeskTopic.id == DeskHandoff.topic_id
    )


async def conversations_with_work(session: AsyncSession, *, chat_id: str, limit: int = 100) -> list[int]:
    """Conversations whose handoffs the desk owes something, those waiting longest first."""
    stmt = _with_desk(select(Handoff.conversation_id, func.min(Handoff.id).label("first")))
    stmt = stmt.where(_unfinished(chat_id)).group_by(Handoff.conversation_id).order_by("first").limit(limit)
    return [row[0] for row in (await session.execute(stmt)).all()]


async def open_desk_conversations(session: AsyncSession, *, chat_id: str, limit: int = 1000) -> list[int]:
    """Conversations with an open handoff that has a topic in this desk (for reminders)."""
    stmt = (
        select(Handoff.conversation_id)
        .join(DeskHandoff, DeskHandoff.handoff_id == Handoff.id)
        .join(DeskTopic, DeskTopic.id == DeskHandoff.topic_id)
        .where(Handoff.status.in_(OPEN_STATUSES), DeskTopic.chat_id == chat_id)
        .order_by(Handoff.id)
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())


async def handoffs_to_serve(
    session: AsyncSession, *, chat_id: str, conversation_id: int, reminders: bool = False
) -> list[tuple[HandoffView, DeskHandoffView | None]]:
    """The conversation's handoffs the desk owes something (with an open one that has a card, if
    `reminders`), oldest first, with what the desk has done for each."""
    condition = _unfinished(chat_id)
    if reminders:
        condition = or_(condition, Handoff.status.in_(OPEN_STATUSES))
    stmt = _with_desk(select(Handoff.id, DeskHandoff)).where(
        Handoff.conversation_id == conversation_id, condition
    )
    rows = (await session.execute(stmt.order_by(Handoff.id))).all()
    found = []
    for handoff_id, desk in rows:
        view = await get_handoff(session, handoff_id=handoff_id, turns=0)
        if view is not None:
            found.append((view, _desk(desk) if desk is not None else None))
    return found


# -- topics -------------------------------------------------------------------------------------
async def get_topic(session: AsyncSession, *, chat_id: str, conversation_id: int) -> TopicView | None:
    row = await session.scalar(
        select(DeskTopic).where(DeskTopic.chat_id == chat_id, DeskTopic.conversation_id == conversation_id)
    )
    return _topic(row) if row is not None else None


async def topic_by_thread(session: AsyncSession, *, chat_id: str, thread_id: int) -> TopicView | None:
    row = await session.scalar(
        select(DeskTopic).where(DeskTopic.chat_id == chat_id, DeskTopic.thread_id == thread_id)
    )
    return _topic(row) if row is not None else None


async def save_topic(
    sessions: Sessions,
    *,
    chat_id: str,
    conversation_id: int,
    thread_id: int,
    name: str,
    language: str,
    now: datetime,
) -> TopicView:
    """Remember a new topic. Raises TopicExists if the conversation already has one here."""
    try:
        async with sessions() as session, session.begin():
            row = DeskTopic(
                chat_id=chat_id,
                conversation_id=conversation_id,
                thread_id=thread_id,
                name=name[:128],
                closed=False,
                language=language,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            await session.flush()
            return _topic(row)
    except IntegrityError:
        raise TopicExists(conversation_id) from None


async def update_topic(
    sessions: Sessions,
    *,
    topic_id: int,
    now: datetime,
    thread_id: int | None = None,
    name: str | None = None,
    closed: bool | None = None,
    language: str | None = None,
) -> TopicView:
    async def work(session: AsyncSession) -> TopicView:
        row = await session.get(DeskTopic, topic_id)
        assert row is not None
        if thread_id is not None:
            row.thread_id = thread_id
        if name is not None:
            row.name = name[:128]
        if closed is not None:
            row.closed = closed
        if language is not None:
            row.language = language
        row.updated_at = now
        await session.flush()
        return _topic(row)

    return await write_transaction(sessions, work)


async def mark_thread(
    sessions: Sessions, *, chat_id: str, thread_id: int, closed: bool, now: datetime
) -> bool:
    """A topic was closed or reopened in the group itself (by a person): remember it. False if
    the thread is no conversation's topic."""
    async with sessions() as session, session.begin():
        result = await session.execute(
            update(DeskTopic)
            .where(DeskTopic.chat_id == chat_id, DeskTopic.thread_id == thread_id)
            .values(closed=closed, updated_at=now)
        )
        return bool(result.rowcount)


# -- handoffs at the desk -----------------------------------------------------------------------
async def start_desk_handoff(
    sessions: Sessions,
    *,
    handoff_id: int,
    topic_id: int,
    card_message_id: int | None,
    relayed_turn_id: int,
    now: datetime,
) -> DeskHandoffView:
    async with sessions() as session, session.begin():
        row = DeskHandoff(
            handoff_id=handoff_id,
            topic_id=topic_id,
            card_message_id=card_message_id,
            relayed_turn_id=relayed_turn_id,
            created_at=now,
        )
        session.add(row)
        await session.flush()
        return _desk(row)


async def topic_had_handoffs(session: AsyncSession, *, topic_id: int) -> bool:
    """True if an earlier handoff of the conversation was served in this topic."""
    found = await session.scalar(
        select(DeskHandoff.handoff_id).where(DeskHandoff.topic_id == topic_id).limit(1)
    )
    return found is not None


async def last_seller_turn_id(session: AsyncSession, *, conversation_id: int) -> int:
    found = await session.scalar(
        select(func.max(Turn.id)).where(
            Turn.conversation_id == conversation_id, Turn.direction == TurnDirection.IN
        )
    )
    return int(found or 0)


async def seller_turns_to_relay(
    session: AsyncSession, *, handoff: HandoffView, after_turn_id: int, limit: int = 50
) -> list[SellerTurn]:
    """The seller's messages of this handoff not yet in its topic, in order: written while it was
    open (up to and including the one that closed it)."""
    stmt = (
        select(Turn)
        .where(
            Turn.conversation_id == handoff.conversation_id,
            Turn.direction == TurnDirection.IN,
            Turn.id > after_turn_id,
            Turn.created_at >= handoff.created_at,
        )
        .order_by(Turn.id)
        .limit(limit)
    )
    if handoff.closed_at is not None:
        stmt = stmt.where(Turn.created_at <= handoff.closed_at)
    return [
        SellerTurn(
            id=t.id,
            text=(t.typed_text or "").strip(),
            described=t.text,
            language=t.language,
            created_at=t.created_at,
            button_only=t.kind is TurnKind.BUTTON and not t.typed_text,
        )
        for t in (await session.execute(stmt)).scalars()
    ]


async def advance_relay(sessions: Sessions, *, handoff_id: int, turn_id: int) -> None:
    async with sessions() as session, session.begin():
        await session.execute(
            update(DeskHandoff)
            .where(DeskHandoff.handoff_id == handoff_id, DeskHandoff.relayed_turn_id < turn_id)
            .values(relayed_turn_id=turn_id)
        )


async def _claim(sessions: Sessions, handoff_id: int, column, now: datetime) -> bool:
    async with sessions() as session, session.begin():
        result = await session.execute(
            update(DeskHandoff)
            .where(DeskHandoff.handoff_id == handoff_id, column.is_(None))
            .values({column.key: now})
        )
        return bool(result.rowcount)


async def claim_closed_notice(sessions: Sessions, *, handoff_id: int, now: datetime) -> bool:
    """True for the one caller that is to post the closing notice and close the topic."""
    return await _claim(sessions, handoff_id, DeskHandoff.closed_noticed_at, now)


async def claim_rating_notice(sessions: Sessions, *, handoff_id: int, now: datetime) -> bool:
    return await _claim(sessions, handoff_id, DeskHandoff.rating_noticed_at, now)


async def waiting_since(session: AsyncSession, *, handoff: HandoffView) -> datetime | None:
    """Since when the seller has been waiting for an agent: the handoff's start if no agent has
    answered, else the seller's first message after the agents' last one; None if the last word
    is an agent's."""
    if handoff.first_reply_at is None:
        return handoff.created_at
    last_agent = await session.scalar(
        select(func.max(Turn.created_at)).where(
            Turn.conversation_id == handoff.conversation_id,
            Turn.direction == TurnDirection.OUT,
            Turn.author.like("agent:%"),
            Turn.created_at >= handoff.created_at,
        )
    )
    since = last_agent or handoff.created_at
    return await session.scalar(
        select(func.min(Turn.created_at)).where(
            Turn.conversation_id == handoff.conversation_id,
            Turn.direction == TurnDirection.IN,
            Turn.created_at > since,
        )
    )


async def claim_reminder(sessions: Sessions, *, handoff_id: int, waiting_since: datetime) -> bool:
    """True for the one caller that is to post the reminder of the wait that began at
    `waiting_since` (once per wait, whatever the clocks of the processes say)."""
    async with sessions() as session, session.begin():
        result = await session.execute(
            update(DeskHandoff)
            .where(
                DeskHandoff.handoff_id == handoff_id,
                or_(DeskHandoff.reminded_for.is_(None), DeskHandoff.reminded_for < waiting_since),
            )
            .values(reminded_for=waiting_since)
        )
        return bool(result.rowcount)


# -- messages -----------------------------------------------------------------------------------
async def record_message(
    sessions: Sessions,
    *,
    topic_id: int,
    kind: DeskMessageKind,
    now: datetime,
    handoff_id: int | None = None,
    message_id: int | None = None,
    turn_id: int | None = None,
    text: str | None = None,
    intent: str | None = None,
    author: str | None = None,
) -> int:
    async with sessions() as session, session.begin():
        row = DeskMessage(
            topic_id=topic_id,
            handoff_id=handoff_id,
            message_id=message_id,
            kind=kind,
            turn_id=turn_id,
            text=text,
            intent=intent,
            author=author,
            created_at=now,
        )
        session.add(row)
        await session.flush()
        return row.id


async def set_message_id(sessions: Sessions, *, desk_message_id: int, message_id: int) -> None:
    async with sessions() as session, session.begin():
        await session.execute(
            update(DeskMessage).where(DeskMessage.id == desk_message_id).values(message_id=message_id)
        )


async def find_message(session: AsyncSession, *, topic_id: int, message_id: int) -> DeskMessageView | None:
    """What a message of the topic stands for (the first record of it)."""
    row = await session.scalar(
        select(DeskMessage)
        .where(DeskMessage.topic_id == topic_id, DeskMessage.message_id == message_id)
        .order_by(DeskMessage.id)
        .limit(1)
    )
    return _message(row) if row is not None else None


async def get_message(session: AsyncSession, *, desk_message_id: int) -> DeskMessageView | None:
    row = await session.get(DeskMessage, desk_message_id)
    return _message(row) if row is not None else None


async def claim_suggestion(sessions: Sessions, *, desk_message_id: int, agent: str, now: datetime) -> bool:
    """True for the one press that is to send a suggested answer (a second press, another agent or
    another process gets False)."""
    async with sessions() as session, session.begin():
        result = await session.execute(
            update(DeskMessage)
            .where(
                DeskMessage.id == desk_message_id,
                DeskMessage.kind == DeskMessageKind.ASSIST,
                DeskMessage.sent_at.is_(None),
            )
            .values(sent_at=now, author=agent[:200])
        )
        return bool(result.rowcount)


async def release_suggestion(sessions: Sessions, *, desk_message_id: int) -> None:
    """The suggested answer could not be sent after all: it may be pressed again."""
    async with sessions() as session, session.begin():
        await session.execute(
            update(DeskMessage).where(DeskMessage.id == desk_message_id).values(sent_at=None, author=None)
        )


async def notes(session: AsyncSession, *, handoff_id: int) -> list[DeskMessageView]:
    rows = await session.execute(
        select(DeskMessage)
        .where(DeskMessage.handoff_id == handoff_id, DeskMessage.kind == DeskMessageKind.NOTE)
        .order_by(DeskMessage.id)
    )
    return [_message(r) for r in rows.scalars()]


# -- the context card ---------------------------------------------------------------------------
async def context(
    session: AsyncSession, *, handoff_id: int, policy: Policy, turns: int, now: datetime | None = None
) -> Context | None:
    handoff = await get_handoff(session, handoff_id=handoff_id, turns=turns)
    if handoff is None:
        return None
    account = None
    stores: tuple[StoreView, ...] = ()
    if handoff.account_id is not None:
        account = await get_account(session, account_id=handoff.account_id, policy=policy, now=now)
        stores = tuple(await list_stores(session, account_id=handoff.account_id))
    return Context(handoff=handoff, account=account, stores=stores)


async def latest_handoff_id(session: AsyncSession, *, conversation_id: int) -> int | None:
    """The conversation's latest handoff (open or not)."""
    return await session.scalar(
        select(func.max(Handoff.id)).where(Handoff.conversation_id == conversation_id)
    )


def minutes_between(start: datetime, end: datetime) -> int:
    return max(0, int((end - start) / timedelta(minutes=1)))


# -- the web desk -------------------------------------------------------------------------------
@dataclass(frozen=True)
class FileRef:
    id: int
    name: str
    mime_type: str
    size: int

    @property
    def is_image(self) -> bool:
        return self.mime_type in ("image/jpeg", "image/png", "image/gif", "image/webp")


@dataclass(frozen=True)
class TranscriptTurn:
    """One turn as the web desk shows it, read from the turn's fields (never parsed from text)."""

    id: int
    direction: TurnDirection
    author: str | None
    kind: TurnKind
    text: str  # the transcript line
    typed: str | None  # what was typed, alone
    button_label: str | None
    created_at: datetime
    files: tuple[FileRef, ...]

    @property
    def words(self) -> str:
        """What to show as the message itself: the typed words (files are shown as files)."""
        if self.kind in (TurnKind.FILE, TurnKind.BUTTON) or self.typed is not None:
            return self.typed or ""
        return self.text


async def transcript(
    session: AsyncSession, *, conversation_id: int, limit: int = 300
) -> list[TranscriptTurn]:
    """The conversation's latest turns, oldest first, with their files (without the data)."""
    rows = (
        await session.scalars(
            select(Turn).where(Turn.conversation_id == conversation_id).order_by(Turn.id.desc()).limit(limit)
        )
    ).all()
    ids = [t.id for t in rows]
    files: dict[int, list[FileRef]] = {}
    if ids:
        found = await session.execute(
            select(Upload.id, Upload.turn_id, Upload.name, Upload.mime_type, Upload.size)
            .where(Upload.turn_id.in_(ids))
            .order_by(Upload.id)
        )
        for upload_id, turn_id, name, mime, size in found:
            files.setdefault(turn_id, []).append(FileRef(upload_id, name or "file", mime or "", size))
    return [
        TranscriptTurn(
            id=t.id,
            direction=t.direction,
            author=t.author,
            kind=t.kind,
            text=t.text,
            typed=t.typed_text,
            button_label=t.button_label,
            created_at=t.created_at,
            files=tuple(files.get(t.id, ())),
        )
        for t in reversed(rows)
    ]


async def add_note(sessions: Sessions, *, handoff_id: int, author: str, text: str, now: datetime) -> int:
    """An internal note on a handoff (seen by agents only; from the web desk, so in no topic)."""
    async with sessions() as session, session.begin():
        row = DeskMessage(
            topic_id=None,
            handoff_id=handoff_id,
            kind=DeskMessageKind.NOTE,
            text=text,
            author=author,
            created_at=now,
        )
        session.add(row)
        audit.record(
            session,
            actor=f"agent:{author}",
            action="handoff_note",
            outcome=AuditOutcome.DONE,
            account_id=None,
            details={"handoff_id": handoff_id},
            now=now,
        )
        await session.flush()
        return row.id


async def handoffs_per_day(session: AsyncSession, *, since: datetime) -> list[tuple[datetime, int]]:
    """How many handoffs began each day (UTC) since `since`, oldest first."""
    rows = (await session.scalars(select(Handoff.created_at).where(Handoff.created_at >= since))).all()
    days: dict[datetime, int] = {}
    for at in rows:
        day = at.replace(hour=0, minute=0, second=0, microsecond=0)
        days[day] = days.get(day, 0) + 1
    return sorted(days.items())
