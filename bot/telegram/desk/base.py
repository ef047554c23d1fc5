"""What the desk's parts share: the agents' group, the settings, the way out (the sender), the
knowledge base for suggested answers, and the clock (reminders)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.telegram.api import ApiError
from bot.telegram.files import FileFetcher
from bot.telegram.render import Renderer
from bot.telegram.sender import Sender
from bot.telegram.translate import BotIdentity, Json, full_name
from faq.knowledge import KnowledgeBase
from handlers.core import IntentMatcher
from services.db import Sessions
from services.handoff_settings import HandoffSettings
from services.policy import Policy

# Callback data of the desk's "send this suggestion" button ("desk:a:<desk message id>").
SUGGESTION_PREFIX = "desk:a:"
# What Telegram says when a topic was deleted, or is closed to the sender.
_TOPIC_GONE = ("message thread not found", "topic_id_invalid", "topic_deleted", "thread not found")
_TOPIC_CLOSED = ("topic_closed",)
_NOT_MODIFIED = ("topic_not_modified", "not modified")


class DeskConfigError(Exception):
    """The agents' group cannot serve as the desk; the message says what is missing."""


def topic_gone(exc: ApiError) -> bool:
    return exc.says(*_TOPIC_GONE)


def topic_closed(exc: ApiError) -> bool:
    return exc.says(*_TOPIC_CLOSED)


def not_modified(exc: ApiError) -> bool:
    return exc.says(*_NOT_MODIFIED)


def agent_label(user: Json | None, chat_title: str = "") -> str:
    """Who an agent is, in the records (the handoff's agent, the transcript, the report)."""
    if user is None:
        return f"{chat_title or 'group'} (anonymous admin)"[:180]
    return f"{full_name(user)[:120]} (telegram {user['id']})"


@dataclass
class Desk:
    chat_id: int
    settings: HandoffSettings
    sessions: Sessions
    sender: Sender
    render: Renderer
    files: FileFetcher
    identity: BotIdentity
    knowledge: KnowledgeBase
    matcher: IntentMatcher
    policy: Policy
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    # set by the runtime: woken when an agent closes a conversation, so the topic closes at once
    wake_relay: Callable[[], None] = field(default=lambda: None)

    @property
    def key(self) -> str:
        return str(self.chat_id)

    def now(self) -> datetime:
        return self.clock()

    def seller_name_for_agent(self, user: Json | None) -> str | None:
        """The name a seller sees for an agent, if agents' names are shown at all."""
        if not self.settings.show_agent_names or user is None:
            return None
        return self.settings.agent_names.get(str(user["id"])) or user.get("first_name")
