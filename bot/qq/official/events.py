"""The official API's events, as `QQMessage`s.

- `C2C_MESSAGE_CREATE`: a private message (`author.user_openid`).
- `GROUP_AT_MESSAGE_CREATE`: a group message that @-mentions the bot (`group_openid`,
  `author.member_openid`); the platform removes the mention and leaves a leading space.
- `GROUP_MESSAGE_CREATE`: every group message, where the group's owner allowed the bot to see
  them all; the bot answers only those addressed to it: a command, or a reply to one of its own
  messages (the adapter looks that up). An @-message may come both ways, with the same id.
- `INTERACTION_CREATE`: a button of a markdown keyboard was pressed.

Images arrive as attachments with a URL; anything else attached (voice, video, files) is noted as
something the bot cannot read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.qq.events import GROUP, PRIVATE, QQImage, QQMessage

MESSAGE_EVENTS = {"C2C_MESSAGE_CREATE", "GROUP_AT_MESSAGE_CREATE", "GROUP_MESSAGE_CREATE"}
INTERACTION = "INTERACTION_CREATE"
# Prefix of the data of the core's buttons on a keyboard; anything else is not ours.
BUTTON_PREFIX = "b:"


def _timestamp(value: Any) -> float:
    if isinstance(value, int | float):
        return float(value)
    try:
        return datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        return 0.0


def _attachments(items: Any) -> tuple[tuple[QQImage, ...], bool]:
    images: list[QQImage] = []
    unsupported = False
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        kind = str(item.get("content_type") or "")
        if kind.startswith("image/") and item.get("url"):
            url = str(item["url"])
            images.append(
                QQImage(
                    url=url if "://" in url else f"https://{url}",
                    name=str(item.get("filename") or "image"),
                    size=int(item["size"]) if str(item.get("size") or "").isdigit() else None,
                    content_type=kind,
                )
            )
        else:
            unsupported = True
    return tuple(images), unsupported


def parse(kind: str, data: dict[str, Any], *, event_id: str = "") -> QQMessage | None:
    """The event as a QQMessage, or None for an event the adapter does not handle."""
    if not isinstance(data, dict):
        return None
    if kind in MESSAGE_EVENTS:
        return _message(kind, data)
    if kind == INTERACTION:
        return _interaction(data, event_id)
    return None


def _message(kind: str, data: dict[str, Any]) -> QQMessage | None:
    author = data.get("author") if isinstance(data.get("author"), dict) else {}
    message_id = str(data.get("id") or "")
    images, unsupported = _attachments(data.get("attachments"))
    text = str(data.get("content") or "").strip()
    reference = data.get("message_reference") if isinstance(data.get("message_reference"), dict) else {}
    if kind == "C2C_MESSAGE_CREATE":
        user = str(author.get("user_openid") or author.get("id") or "")
        if not user or not message_id:
            return None
        return QQMessage(
            protocol="official",
            kind=PRIVATE,
            chat=user,
            user=user,
            message_id=message_id,
            text=text,
            images=images,
            unsupported=unsupported,
            sent_at=_timestamp(data.get("timestamp")),
        )
    group = str(data.get("group_openid") or "")
    user = str(author.get("member_openid") or author.get("id") or "")
    if not group or not user or not message_id:
        return None
    return QQMessage(
        protocol="official",
        kind=GROUP,
        chat=group,
        user=user,
        message_id=message_id,
        text=text,
        addressed=kind == "GROUP_AT_MESSAGE_CREATE" or text.startswith("/"),
        images=images,
        unsupported=unsupported,
        sent_at=_timestamp(data.get("timestamp")),
        name=str(author.get("username") or ""),
        extra={"reply_to": str(reference.get("message_id") or "")} if reference.get("message_id") else {},
    )


def _interaction(data: dict[str, Any], event_id: str) -> QQMessage | None:
    resolved = (data.get("data") or {}).get("resolved") or {}
    button_data = str(resolved.get("button_data") or "")
    interaction_id = str(data.get("id") or "")
    if not interaction_id:
        return None
    button = button_data[len(BUTTON_PREFIX) :] if button_data.startswith(BUTTON_PREFIX) else ""
    chat_type = data.get("chat_type")
    if chat_type == 1 or data.get("group_openid"):
        group = str(data.get("group_openid") or "")
        user = str(data.get("group_member_openid") or resolved.get("user_id") or "")
        if not group or not user:
            return None
        kind, chat = GROUP, group
    else:
        user = str(data.get("user_openid") or resolved.get("user_id") or "")
        if not user:
            return None
        kind, chat = PRIVATE, user
    return QQMessage(
        protocol="official",
        kind=kind,
        chat=chat,
        user=user,
        message_id=str(resolved.get("message_id") or ""),
        addressed=True,
        sent_at=_timestamp(data.get("timestamp")),
        # An unknown button (an older bot's, or forged) is passed on as an id the core does not
        # know: it answers "no longer valid" and changes nothing.
        button=button if button.isascii() and button.isprintable() and button else "?",
        interaction_id=interaction_id,
        extra={"event_id": event_id} if event_id else {},
    )
