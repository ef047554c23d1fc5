"""The conversation core: one entry point, `ConversationCore.handle(inbound) -> replies`.

Channel adapters (console, Telegram, QQ) call it and know nothing of what happens inside. For
each message it loads the conversation's state from the database, decides what the message is
(a button, a command, an answer to the current step of a flow, a question), lets the right
handler build the replies, then saves the new state and logs the turn — in short transactions,
so that the services each action calls run their own.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import String, bindparam, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.orm.exc import StaleDataError

from faq.knowledge import KnowledgeBase
from faq.matcher import Match
from faq.normalize import detect_language, normalize
from handlers import choices, commands, understanding
from handlers.apology import Apology
from handlers.commands import for_another_bot
from handlers.context import TurnContext
from handlers.flows import FLOWS
from handlers.handoff import while_with_agent
from handlers.in_flow import run_flow_file, run_flow_text
from handlers.parsing import is_cancel_word
from handlers.state import ConversationState
from handlers.types import Inbound, Replies, Reply, reply_to_json
from services import outbox
from services.db import HotStatement, Sessions, run_reading, run_writing, writing_connection
from services.handoff import file_description
from services.handoff_settings import HandoffSettings
from services.inbound_queue import finish_in, take_next_in
from services.linking import linked_account_id
from services.mail_dispatch import MailDispatcher
from services.models import (
    ChatLink,
    Conversation,
    Handoff,
    HandoffStatus,
    Turn,
    TurnDirection,
    TurnKind,
    Upload,
)
from services.outbox import CURRENT_TURN
from services.policy import Policy
from services.uploads import upload_values

log = logging.getLogger(__name__)

# Longer messages are refused with an explanation rather than half-understood.
MAX_TEXT_CHARS = 2000
SAVE_ATTEMPTS = 3


class IntentMatcher(Protocol):
    """What the core asks of the matcher (`faq.matcher.Matcher`): a typed `Match` for a question."""

    def match(self, text: str) -> Match: ...


@dataclass(frozen=True)
class CoreOptions:
    bot_username: str = "sellerbot"
    default_language: str = "zh"
    # A question typed where a flow expects free text (a store title, an address) interrupts
    # the flow only when the matcher is at least this sure.
    interrupt_score: float = 0.8
    # support hours (what a seller handed to a person is told), reminders, agents' names
    handoff: HandoffSettings = field(default_factory=HandoffSettings)


class UpdateTakenOver(Exception):
    """The channel's update being handled was taken over by another process (whose turn wins)."""


class ConversationCore:
    def __init__(
        self,
        *,
        sessions: Sessions,
        policy: Policy,
        knowledge: KnowledgeBase,
        matcher: IntentMatcher,
        mail: MailDispatcher,
        options: CoreOptions | None = None,
        clock: Any = None,
    ) -> None:
        self.sessions = sessions
        self.policy = policy
        self.knowledge = knowledge
        self.matcher = matcher
        self.mail = mail
        self.options = options or CoreOptions()
        # Every flow the modules of handlers/flows declare (a flow module imports the turn
        # context, which names this class for type checking only: no import cycle).
        self.flows = FLOWS
        self._clock = clock or (lambda: datetime.now(UTC))

    def now(self) -> datetime:
        return self._clock()

    # -- entry point ------------------------------------------------------------------------
    async def handle(self, inbound: Inbound) -> Replies:
        """The replies to one inbound message. Never raises: an internal failure is logged with a
        reference id and the seller gets an apology quoting it."""
        if inbound.is_group and not self._addressed_in_group(inbound):
            return Replies()
        try:
            return await self._handle(inbound)
        except UpdateTakenOver as exc:
            log.warning("%s; its answer is left to that process", exc)
            return Replies()
        except Exception as exc:
            # An unavailable database is not a bug: the seller is told to come back, and the next
            # message tries again.
            apology = Apology.for_error(exc, log, f"a message on {inbound.channel}")
            lang = detect_language(inbound.text, self._first_language(inbound))
            return Replies([Reply(text=apology.text(lang))])

    def _addressed_in_group(self, inbound: Inbound) -> bool:
        """A group message is for the bot if the channel says so, unless it is a command for
        another bot of the group (`/help@otherbot`, which a channel may count as addressed)."""
        if not inbound.addressed_to_bot:
            return False
        return not for_another_bot(inbound.text, bot_username=self.options.bot_username)

    async def linked_account(self, inbound: Inbound) -> int | None:
        async with self.sessions() as session:
            return await linked_account_id(session, channel=inbound.channel, chat_user_id=inbound.user_id)

    # -- one message ------------------------------------------------------------------------
    async def _handle(self, inbound: Inbound) -> Replies:
        for attempt in range(SAVE_ATTEMPTS):
            loaded = await self._load(inbound)
            conversation_id, version = loaded.conversation_id, loaded.version
            if inbound.for_person_only and not loaded.in_handoff:
                return Replies()
            ctx = TurnContext(
                core=self,
                inbound=inbound,
                state=loaded.state,
                conversation_id=conversation_id,
                now=self.now(),
            )
            ctx.knows_account(loaded.account_id)
            if loaded.in_handoff:
                await while_with_agent(ctx)
            else:
                await self._dispatch(ctx)
            if inbound.numbered_choices and ctx.replies:
                ctx.state.show(choices.shown_buttons(ctx.replies))
            try:
                await self._save(ctx, version)
            except StaleDataError:
                # Another process answered a message of this conversation meanwhile: start over
                # from its state (confirmed actions carry idempotency keys, so nothing repeats).
                log.info("conversation %s changed concurrently, retrying (%d)", conversation_id, attempt + 1)
                continue
            answer = Replies(ctx.replies)
            target = CURRENT_TURN.get()
            answer.queued = bool(ctx.replies) and target is not None and target.queued
            return answer
        raise RuntimeError("conversation state kept changing concurrently")

    async def _dispatch(self, ctx: TurnContext) -> None:
        inbound = ctx.inbound
        text = inbound.text.strip()
        if len(text) > MAX_TEXT_CHARS:
            ctx.say("errors.too_long", limit=MAX_TEXT_CHARS, length=len(text))
            return
        if inbound.button is not None:
            await commands.press_button(ctx, inbound.button)
            return
        if inbound.is_group:
            # "@sellerbot /stores" is a command too
            text = strip_mention(text, self.options.bot_username)
        if inbound.numbered_choices:
            picked = choices.read(ctx.state, text)
            if picked.button is not None:
                await commands.press_button(ctx, picked.button)
                return
            if picked.out_of_range and ctx.state.flow is None:
                choices.refuse_number(ctx)
                return
        command = commands.parse_command(text, bot_username=self.options.bot_username)
        if command is not None:
            await commands.run_command(ctx, *command)
            return
        if is_cancel_word(text):
            await commands.cancel(ctx)
            return
        if inbound.files:
            await run_flow_file(ctx, inbound.files[0])
            return
        if not normalize(text):
            # empty, or only emoji and punctuation: nothing to understand
            ctx.say("errors.empty")
            return
        if ctx.state.flow is not None:
            await run_flow_text(ctx, text)
            return
        ctx.state.follow_language(text)
        await understanding.respond(ctx, text)

    # -- persistence ------------------------------------------------------------------------
    def _key(self, inbound: Inbound) -> dict[str, str]:
        return {
            "channel": inbound.channel,
            "chat_id": inbound.chat_id,
            "thread_id": inbound.thread_id or "",
            "user_id": inbound.user_id,
        }

    def _first_language(self, inbound: Inbound) -> str:
        hint = (inbound.language_hint or "").lower()
        if hint.startswith("zh"):
            return "zh"
        if hint.startswith("en"):
            return "en"
        return self.options.default_language

    async def _load(self, inbound: Inbound) -> Loaded:
        """The conversation's state, whether a person has it, and the seller's linked account, in
        one read (the row is made at the first message)."""
        key = self._key(inbound)
        row = await run_reading(self.sessions, lambda connection: _LOAD.run(connection, key).first())
        if row is None:
            await self._create(inbound)
            return await self._load(inbound)
        conversation_id, language, flow, step, data, version, handoff_id, account_id = row
        state = ConversationState.from_row(
            lang=language or self.options.default_language, flow=flow, step=step, data=data
        )
        return Loaded(conversation_id, state, version, handoff_id is not None, account_id)

    async def _create(self, inbound: Inbound) -> None:
        """The conversation's row, at its first message (a concurrent first message may have made
        it already: then that one is used)."""
        values = {**self._key(inbound), "language": self._first_language(inbound), "state": {}}
        async with writing_connection(self.sessions) as connection:
            stmt = _insert_for(connection, Conversation).values(
                **values, version=1, created_at=self.now(), updated_at=self.now()
            )
            await connection.execute(stmt.on_conflict_do_nothing(index_elements=list(self._key(inbound))))

    async def _save(self, ctx: TurnContext, version: int) -> None:
        """The new state and the turn's transcript, in one transaction; StaleDataError if another
        process saved the conversation meanwhile (the version moved on)."""
        state, inbound, now = ctx.state, ctx.inbound, ctx.now
        values: dict[str, Any] = {
            "conversation": ctx.conversation_id,
            "seen_version": version,
            "language": state.lang,
            "flow": state.flow,
            "step": state.step,
            "state": state.to_json(),
            "updated_at": now,
            "version": version + 1,
            "display_name": inbound.display_name[:200] or None,
        }
        incoming = {
            "conversation_id": ctx.conversation_id,
            "direction": TurnDirection.IN,
            "text": describe_inbound(inbound, pressed=ctx.pressed_label),
            "language": state.lang,
            "intent": ctx.understood.intent,
            "score": ctx.understood.score,
            "decision": ctx.understood.decision,
            "flow_step": f"{state.flow}.{state.step}" if state.flow else None,
            "author": None,
            "channel_message_id": inbound.message_id[:64] or None,
            "created_at": now,
            **turn_record(inbound, pressed=ctx.pressed_label),
        }
        outgoing = [
            {**incoming, "direction": TurnDirection.OUT, "text": reply.text, "intent": None, "score": None,
             "decision": None, "flow_step": None, "channel_message_id": None, "kind": TurnKind.TEXT,
             "button_id": None, "button_label": None, "typed_text": None}
            for reply in ctx.replies
        ]  # fmt: skip
        target = CURRENT_TURN.get()
        if target is None or target.channel != inbound.channel:
            target = None  # not handled by a channel's runtime (the console, a test)

        def save(connection: Connection) -> None:
            if _SAVE.run(connection, values).rowcount != 1:
                raise StaleDataError("conversation changed")
            turns = Turn.__table__
            if ctx.keep_files and inbound.files:
                insert_in = insert(turns).values(incoming).returning(turns.c.id)
                turn_id = connection.execute(insert_in).scalar_one()
                connection.execute(
                    insert(Upload.__table__),
                    [
                        upload_values(
                            ctx.conversation_id,
                            file.data,
                            now=now,
                            name=file.name,
                            mime_type=file.mime_type,
                            turn_id=turn_id,
                        )
                        for file in inbound.files
                    ],
                )
            else:
                outgoing.insert(0, incoming)
            if outgoing:
                _INSERT_TURNS.run(connection, outgoing)
            if target is not None:
                queued[:] = self._queue_replies(connection, ctx, target)
                if target.sent:
                    outbox.mark_in(connection, target.sent, now=now)
                if target.take_next:
                    taken[:] = [
                        take_next_in(
                            connection,
                            channel=target.channel,
                            chat_key=target.chat_key,
                            owner=target.owner,
                            now=now,
                        )
                    ]

        # One hand-over to the database layer for the whole transaction (a turn's largest cost
        # was SQLAlchemy's asyncio layer, paid per statement). The runtime hears of the outbox
        # rows and the finished update once they are committed.
        queued: list[outbox.Pending] = []
        taken: list[Any] = []
        await run_writing(self.sessions, save)
        if target is not None:
            target.finished = target.finished or target.update_id is not None
            target.rows.extend(queued)
            target.sent = []  # marked
            target.next = taken[0] if taken else None
            target.queued = True

    def _queue_replies(
        self, connection: Connection, ctx: TurnContext, target: outbox.TurnTarget
    ) -> list[outbox.Pending]:
        """When a channel's runtime handles this message (`CURRENT_TURN`): its replies go to the
        channel's durable outbox and the inbound update is marked handled, in the turn's
        transaction. A message the runtime no longer holds is not saved (another process handles
        it again)."""
        inbound = ctx.inbound
        if target.update_id is not None and not target.finished:
            if not finish_in(
                connection,
                channel=target.channel,
                update_id=target.update_id,
                owner=target.owner,
                now=ctx.now,
            ):
                raise UpdateTakenOver(f"update {target.update_id} is no longer {target.owner}'s")
        if ctx.replies:
            address = {
                "chat_id": inbound.chat_id,
                "thread_id": inbound.thread_id,
                "user_id": inbound.user_id,
                "is_group": inbound.is_group,
                "reply_to": inbound.reply_to,
                "message_id": inbound.message_id,
            }
            return [
                outbox.queue_message(
                    connection,
                    channel=target.channel,
                    chat_key=target.chat_key,
                    conversation_id=ctx.conversation_id,
                    payload={**address, "replies": [reply_to_json(r) for r in ctx.replies]},
                    now=ctx.now,
                )
            ]
        return []


# The statements of every turn, built once (building one costs more than running it).
# (Table columns, not the ORM's: a Core statement skips the ORM's execution path.)
_conversations = Conversation.__table__
_handoffs = Handoff.__table__
_links = ChatLink.__table__
_LOAD = HotStatement(
    select(
        _conversations.c.id,
        _conversations.c.language,
        _conversations.c.flow,
        _conversations.c.step,
        _conversations.c.state,
        _conversations.c.version,
        select(_handoffs.c.id)
        # Open is "not closed" (the statuses are waiting, active, closed), said without IN: an IN list
        # is written into the statement again at every execution.
        .where(_handoffs.c.conversation_id == _conversations.c.id, _handoffs.c.status != HandoffStatus.CLOSED)
        .limit(1)
        .scalar_subquery(),
        select(_links.c.account_id)
        .where(_links.c.channel == bindparam("channel"), _links.c.chat_user_id == bindparam("user_id"))
        .limit(1)
        .scalar_subquery(),
    ).where(
        _conversations.c.channel == bindparam("channel"),
        _conversations.c.chat_id == bindparam("chat_id"),
        _conversations.c.thread_id == bindparam("thread_id"),
        _conversations.c.user_id == bindparam("user_id"),
    )
)
_SAVE = HotStatement(
    update(_conversations)
    .where(
        _conversations.c.id == bindparam("conversation"),
        _conversations.c.version == bindparam("seen_version"),
    )
    .values(
        language=bindparam("language"),
        flow=bindparam("flow"),
        step=bindparam("step"),
        state=bindparam("state", type_=_conversations.c.state.type),
        updated_at=bindparam("updated_at", type_=_conversations.c.updated_at.type),
        version=bindparam("version"),
        display_name=func.coalesce(bindparam("display_name", type_=String), _conversations.c.display_name),
    )
)
# A turn's transcript lines (the message and the replies), given every column but the id.
_INSERT_TURNS = HotStatement(
    insert(Turn.__table__), column_keys=[c.key for c in Turn.__table__.columns if c.key != "id"]
)


def _insert_for(connection: Any, table: type) -> Any:
    return (pg_insert if connection.dialect.name == "postgresql" else sqlite_insert)(table)


@dataclass(frozen=True)
class Loaded:
    """What a turn starts from."""

    conversation_id: int
    state: ConversationState
    version: int
    in_handoff: bool
    account_id: int | None


_MENTION_RE_CACHE: dict[str, re.Pattern[str]] = {}


def strip_mention(text: str, bot_username: str) -> str:
    """The message without the bot's @username (how a group addresses the bot)."""
    pattern = _MENTION_RE_CACHE.get(bot_username)
    if pattern is None:
        pattern = re.compile(rf"@{re.escape(bot_username)}\b", re.IGNORECASE)
        _MENTION_RE_CACHE[bot_username] = pattern
    return pattern.sub(" ", text).strip()


def turn_record(inbound: Inbound, *, pressed: str | None = None) -> dict[str, Any]:
    """What an incoming message was, as data: its kind, the button pressed (id and the label the
    seller saw), and the text typed."""
    typed = inbound.text[:MAX_TEXT_CHARS] or None
    if inbound.button is not None or pressed:
        kind = TurnKind.BUTTON
    elif inbound.files:
        kind = TurnKind.FILE
    elif inbound.text.lstrip().startswith("/"):
        kind = TurnKind.COMMAND
    else:
        kind = TurnKind.TEXT
    return {
        "kind": kind,
        "button_id": (inbound.button or "")[:64] or None,
        "button_label": (pressed or "")[:200] or None,
        # A choice answered by its number is a button press; the number is not what was meant.
        "typed_text": None if kind is TurnKind.BUTTON else typed,
    }


def describe_inbound(inbound: Inbound, *, pressed: str | None = None) -> str:
    """The transcript line of an inbound message: files by name and size, a pressed button (or a
    choice answered by number) by its label (what the seller saw and an agent can read), else by
    id."""
    parts = []
    if inbound.text:
        parts.append(inbound.text[:MAX_TEXT_CHARS])
    parts += [file_description(f.name, len(f.data)) for f in inbound.files]
    if inbound.button is not None:
        parts.append(f"[button: {pressed}]" if pressed else f"[button {inbound.button}]")
    elif pressed:  # a choice answered by its number or label (a channel without buttons)
        parts.append(f"[button: {pressed}]")
    return " ".join(parts) or "[empty]"
