"""A QQ message as the rest of the adapter sees it, whichever protocol brought it.

The official API's events and a OneBot client's events differ in every field name; each protocol
module turns its own into a `QQMessage`, which is what the inbox stores (as JSON) and what the
update handler turns into the core's `Inbound`.

Chats: a group (its group_openid, or its group number on OneBot) or a private chat (the user's
openid, or QQ number). On OneBot the bot is a QQ account among others, and one sellerbot may serve
several (each client connects with its own `X-Self-ID`): the account is the conversation's thread,
so a seller talking to two bot accounts has two conversations, each answered by its own account.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from handlers.types import Inbound, InboundFile

CHANNEL = "qq"
GROUP = "group"
PRIVATE = "private"


@dataclass(frozen=True)
class QQImage:
    """An image a seller sent: where to fetch it (a URL, or on OneBot the client's file id)."""

    url: str = ""
    name: str = ""
    size: int | None = None
    content_type: str = ""
    file: str = ""


@dataclass(frozen=True)
class QQMessage:
    protocol: Literal["official", "onebot"]
    kind: Literal["group", "private"]
    chat: str  # the group's id, or in a private chat the user's
    user: str
    message_id: str
    text: str = ""
    # In a group: the bot was @-mentioned, replied to, or given a command.
    addressed: bool = True
    images: tuple[QQImage, ...] = ()
    # Something the bot cannot read came (a voice message, a video, a file).
    unsupported: bool = False
    # Seconds since the epoch when QQ says the message was sent.
    sent_at: float = 0.0
    name: str = ""
    # OneBot: the bot account (X-Self-ID) that received it.
    self_id: str = ""
    # The official API's button press (an INTERACTION_CREATE on a markdown keyboard): the core's
    # button id, and the interaction to acknowledge and answer.
    button: str | None = None
    interaction_id: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_group(self) -> bool:
        return self.kind == GROUP

    @property
    def chat_key(self) -> str:
        return chat_key(self.kind, self.chat, self.self_id)

    @property
    def event_key(self) -> str:
        """What recognises a redelivery: the message's id (an interaction has its own)."""
        key = self.interaction_id or self.message_id
        return f"{self.self_id}:{key}" if self.self_id else key

    def to_json(self) -> str:
        # ensure_ascii keeps a NUL character as an escape (PostgreSQL text refuses the byte).
        return json.dumps(asdict(self), ensure_ascii=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> QQMessage:
        data = json.loads(text)
        data["images"] = tuple(QQImage(**image) for image in data.get("images") or ())
        return cls(**data)

    def inbound(
        self, *, text: str | None = None, files: tuple[InboundFile, ...] = (), numbered: bool
    ) -> Inbound:
        return Inbound(
            channel=CHANNEL,
            chat_id=conversation_chat_id(self.kind, self.chat),
            user_id=self.user,
            text=self.text if text is None else text,
            thread_id=self.self_id,
            display_name=self.name,
            files=files,
            is_group=self.is_group,
            addressed_to_bot=self.addressed,
            button=self.button,
            message_id=self.message_id,
            reply_to=self.message_id,
            numbered_choices=numbered,
        )


def conversation_chat_id(kind: str, chat: str) -> str:
    """The conversation's chat id: a private chat's is the user's id, a group's is marked as one
    (a QQ number may be a user's and a group's at once)."""
    return f"group:{chat}" if kind == GROUP else chat


def chat_key(kind: str, chat: str, self_id: str = "") -> str:
    """The ordering domain of a chat's messages (and the key of its lease)."""
    return f"{self_id}:{kind}:{chat}" if self_id else f"{kind}:{chat}"


@dataclass(frozen=True)
class Target:
    """Where a message goes: a chat (through a bot account, on OneBot), and the seller's message
    it answers, if any."""

    kind: Literal["group", "private"]
    chat: str
    user: str = ""  # the seller the message is for (in a group: whose question it answers)
    self_id: str = ""
    reply_to: str = ""

    @property
    def chat_key(self) -> str:
        return chat_key(self.kind, self.chat, self.self_id)

    @classmethod
    def of(cls, message: QQMessage) -> Target:
        return cls(
            kind=message.kind,
            chat=message.chat,
            user=message.user,
            self_id=message.self_id,
            reply_to=message.message_id,
        )

    @classmethod
    def of_conversation(
        cls, chat_id: str, thread_id: str, user_id: str, reply_to: str | None = None
    ) -> Target:
        """Where a message of a stored conversation goes (an agent's answer)."""
        group = chat_id.startswith("group:")
        return cls(
            kind=GROUP if group else PRIVATE,
            chat=chat_id.removeprefix("group:") if group else chat_id,
            user=user_id,
            self_id=thread_id,
            reply_to=reply_to or "",
        )
