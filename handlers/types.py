"""What crosses the boundary between a channel adapter and the conversation core.

An adapter turns its channel's update into an `Inbound` and sends each `Reply` back; it never
sees the meaning of a button (buttons carry short opaque ids whose meaning the core keeps in
the conversation state).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


@dataclass(frozen=True)
class InboundFile:
    """A file the user sent (a photo or a document). `data` is the content; the name is only a
    hint for messages, never used to judge the type."""

    name: str
    data: bytes
    mime_type: str = ""


@dataclass(frozen=True)
class Inbound:
    channel: str  # "console", "telegram", "qq", ...
    chat_id: str
    user_id: str
    text: str = ""
    thread_id: str = ""
    display_name: str = ""
    files: tuple[InboundFile, ...] = ()
    is_group: bool = False
    # In a group: the message is a command, mentions the bot, or replies to it.
    addressed_to_bot: bool = True
    # The id of a pressed button (`Button.id`), instead of text.
    button: str | None = None
    # The channel's language hint for the user (e.g. Telegram's language_code), if any.
    language_hint: str | None = None
    # The channel's id of the message (Telegram's message_id), if it has one.
    message_id: str = ""
    # Something only the person handling the conversation needs to know (the seller edited a
    # message, sent a file the channel could not fetch): kept in the transcript and relayed while
    # a person has the conversation; otherwise nothing happens (no reply, nothing saved).
    for_person_only: bool = False
    # The channel's id of the message the replies should quote (a group's question), if any.
    reply_to: str = ""
    # The channel has no buttons (QQ): it shows a reply's buttons as numbered lines, and the
    # seller answers with the number or the label of one of the choices last shown.
    numbered_choices: bool = False


class ButtonKind(StrEnum):
    CALLBACK = "callback"  # pressing it sends `Inbound.button = id`
    PRIVATE_CHAT = "private_chat"  # opens a private chat with the bot, starting with `/start <id>`


@dataclass(frozen=True)
class Button:
    id: str
    label: str
    kind: ButtonKind = ButtonKind.CALLBACK


@dataclass(frozen=True)
class Reply:
    text: str
    buttons: tuple[Button, ...] = ()
    # Attached files (name, content), e.g. an icon preview; most replies have none.
    files: tuple[InboundFile, ...] = field(default=())
    # The reply says a pressed button was not taken (already used, or expired): an adapter then
    # leaves the button's message as it was instead of marking the option chosen.
    button_refused: bool = False


def reply_to_json(reply: Reply) -> dict[str, Any]:
    """A reply as plain data (the durable outbox keeps it until the channel sends it)."""
    return {
        "text": reply.text,
        "buttons": [[b.id, b.label, b.kind.value] for b in reply.buttons],
        "files": [
            {"name": f.name, "mime_type": f.mime_type, "data": base64.b64encode(f.data).decode()}
            for f in reply.files
        ],
        "button_refused": reply.button_refused,
    }


def reply_from_json(data: dict[str, Any]) -> Reply:
    return Reply(
        text=str(data.get("text") or ""),
        buttons=tuple(Button(str(b[0]), str(b[1]), ButtonKind(b[2])) for b in data.get("buttons") or ()),
        files=tuple(
            InboundFile(
                name=str(f["name"]), data=base64.b64decode(f["data"]), mime_type=str(f.get("mime_type") or "")
            )
            for f in data.get("files") or ()
        ),
        button_refused=bool(data.get("button_refused")),
    )


class Replies(list[Reply]):
    """A turn's replies, as the core returns them. `queued`: they are in the channel's durable
    outbox already (the channel's sender sends them), so an adapter must not send them itself."""

    queued: bool = False
