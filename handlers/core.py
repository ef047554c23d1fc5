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

from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from faq.knowledge import KnowledgeBase
from faq.normalize import detect_language, normalize
from handlers import choices
from handlers.apology import Apology
from handlers.context import TurnContext
from handlers.state import ConversationState
from handlers.types import Inbound, Reply
from services import handoff as handoff_service
from services.db import Sessions
from services.handoff import file_description
from services.handoff_settings import HandoffSettings
from services.linking import linked_account_id
from services.mail_dispatch import MailDispatcher
from services.models import Conversation, Turn, TurnDirection
from services.policy import Policy
from services.uploads import new_upload

log = logging.getLogger(__name__)

# Longer messages are refused with an explanation rather than half-understood.
MAX_TEXT_CHARS = 2000
SAVE_ATTEMPTS = 3
# Words that end a flow when typed alone. Ordinary English words such as "stop" are left out:
# a store may well be called "Stop".
CANCEL_WORDS = {"cancel", "取消", "退出", "算了"}


class MatchCandidate(Protocol):
    intent: str
    score: float


class MatchResult(Protocol):
    intent: str
    score: float
    decision: str  # "answer", "clarify" or "fallback"
    candidates: list[Any]


class IntentMatcher(Protocol):
    def match(self, text: str) -> Any: ...


@dataclass(frozen=True)
class CoreOptions:
    bot_username: str = "sellerbot"
    default_language: str = "zh"
    # A question typed where a flow expects free text (a store title, an address) interrupts
    # the flow only when the matcher is at least this sure.
    interrupt_score: float = 0.8
    # support hours (what a seller handed to a person is told), reminders, agents' names
    handoff: HandoffSettings = field(default_factory=HandoffSettings)


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
        from handlers.flows import FLOWS  # the flows import this module's types

        self.sessions = sessions
        self.policy = policy
        self.knowledge = knowledge
        self.matcher = matcher
        self.mail = mail
        self.options = options or CoreOptions()
        self.flows = FLOWS
        self._clock = clock or (lambda: datetime.now(UTC))

    def now(self) -> datetime:
        return self._clock()

    # -- entry point ------------------------------------------------------------------------
    async def handle(self, inbound: Inbound) -> list[Reply]:
        """The replies to one inbound message. Never raises: an internal failure is logged with a
        reference id and the seller gets an apology quoting it."""
        if inbound.is_group and not self._addressed_in_group(inbound):
            return []
        try:
            return await self._handle(inbound)
        except Exception as exc:
            # An unavailable database is not a bug: the seller is told to come back, and the next
            # message tries again.
            apology = Apology.for_error(exc, log, f"a message on {inbound.channel}")
            lang = detect_language(inbound.text, self._first_language(inbound))
            return [Reply(text=apology.text(lang))]

    def _addressed_in_group(self, inbound: Inbound) -> bool:
        """A group message is for the bot if the channel says so, unless it is a command for
        another bot of the group (`/help@otherbot`, which a channel may count as addressed)."""
        from handlers.commands import for_another_bot

        if not inbound.addressed_to_bot:
            return False
        return not for_another_bot(inbound.text, bot_username=self.options.bot_username)

    async def linked_account(self, inbound: Inbound) -> int | None:
        async with self.sessions() as session:
            return await linked_account_id(session, channel=inbound.channel, chat_user_id=inbound.user_id)

    # -- one message ------------------------------------------------------------------------
    async def _handle(self, inbound: Inbound) -> list[Reply]:
        for attempt in range(SAVE_ATTEMPTS):
            conversation_id, state, version, in_handoff = await self._load(inbound)
            if inbound.for_person_only and not in_handoff:
                return []
            ctx = TurnContext(
                core=self, inbound=inbound, state=state, conversation_id=conversation_id, now=self.now()
            )
            if in_handoff:
                from handlers.handoff import while_with_agent

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
            return ctx.replies
        raise RuntimeError("conversation state kept changing concurrently")

    async def _dispatch(self, ctx: TurnContext) -> None:
        from handlers import commands, understanding
        from handlers.flows.base import run_flow_file, run_flow_text

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
        if normalize(text) in CANCEL_WORDS:
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

    async def _load(self, inbound: Inbound) -> tuple[int, ConversationState, int, bool]:
        key = self._key(inbound)
        async with self.sessions() as session, session.begin():
            row = await session.scalar(select(Conversation).filter_by(**key))
            if row is None:
                row = Conversation(**key, language=self._first_language(inbound), state={})
                session.add(row)
                try:
                    await session.flush()
                except Exception:
                    # created by a concurrent first message: use that one
                    await session.rollback()
                    return await self._load(inbound)
            state = ConversationState.from_row(
                lang=row.language or self.options.default_language,
                flow=row.flow,
                step=row.step,
                data=row.state,
            )
            in_handoff = await handoff_service.open_handoff_id(session, conversation_id=row.id) is not None
            return row.id, state, row.version, in_handoff

    async def _save(self, ctx: TurnContext, version: int) -> None:
        state, inbound, now = ctx.state, ctx.inbound, ctx.now
        async with self.sessions() as session, session.begin():
            row = await session.get(Conversation, ctx.conversation_id)
            if row is None or row.version != version:
                raise StaleDataError("conversation changed")
            row.language, row.flow, row.step = state.lang, state.flow, state.step
            row.state = state.to_json()
            row.updated_at = now
            if inbound.display_name:
                row.display_name = inbound.display_name[:200]
            turn = Turn(
                conversation_id=ctx.conversation_id,
                direction=TurnDirection.IN,
                text=describe_inbound(inbound, pressed=ctx.pressed_label),
                language=state.lang,
                intent=ctx.understood.intent,
                score=ctx.understood.score,
                decision=ctx.understood.decision,
                flow_step=f"{state.flow}.{state.step}" if state.flow else None,
                channel_message_id=inbound.message_id[:64] or None,
                created_at=now,
            )
            session.add(turn)
            if ctx.keep_files and inbound.files:
                await session.flush()
                for file in inbound.files:
                    session.add(
                        new_upload(
                            ctx.conversation_id,
                            file.data,
                            now=now,
                            name=file.name,
                            mime_type=file.mime_type,
                            turn_id=turn.id,
                        )
                    )
            for reply in ctx.replies:
                session.add(
                    Turn(
                        conversation_id=ctx.conversation_id,
                        direction=TurnDirection.OUT,
                        text=reply.text,
                        language=state.lang,
                        created_at=now,
                    )
                )
            await session.flush()


_MENTION_RE_CACHE: dict[str, re.Pattern[str]] = {}


def strip_mention(text: str, bot_username: str) -> str:
    """The message without the bot's @username (how a group addresses the bot)."""
    pattern = _MENTION_RE_CACHE.get(bot_username)
    if pattern is None:
        pattern = re.compile(rf"@{re.escape(bot_username)}\b", re.IGNORECASE)
        _MENTION_RE_CACHE[bot_username] = pattern
    return pattern.sub(" ", text).strip()


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
