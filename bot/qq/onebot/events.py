"""OneBot v11 message events, as `QQMessage`s.

A message is a list of segments (`{"type": "text", "data": {"text": "hi"}}`), or, in the string
format, text with CQ codes (`[CQ:at,qq=10001] hi`), whose `&`, `[`, `]` (and `,` inside a code)
are escaped as `&amp;`, `&#91;`, `&#93;`, `&#44;`. Both are read:

- `text` is the text; an `at` of the bot addresses it (and is left out of the text), an `at` of
  someone else stays as "@number"; `reply` quotes a message (a reply to one of the bot's own
  messages addresses it); `image` is an image the bot may fetch (its URL, or the client's file id
  for `get_image`); `face` is an emoji the bot skips; anything else (voice, video, files, cards) is
  something the bot cannot read.
- The bot's own messages (`message_sent`, or a `user_id` equal to the bot's) are never answered.
"""

from __future__ import annotations

import re
from typing import Any

from bot.qq.events import GROUP, PRIVATE, QQImage, QQMessage

_CQ_RE = re.compile(r"\[CQ:([A-Za-z0-9_.-]+)((?:,[^\[\]]*)?)\]")
SKIPPED = {"face", "mface", "markdown", "poke", "shake", "anonymous"}


def _unescape(text: str, *, in_code: bool) -> str:
    text = text.replace("&#91;", "[").replace("&#93;", "]")
    if in_code:
        text = text.replace("&#44;", ",")
    return text.replace("&amp;", "&")


def parse_cq(message: str) -> list[dict[str, Any]]:
    """The segments of a message in the string (CQ code) format."""
    segments: list[dict[str, Any]] = []
    position = 0
    for match in _CQ_RE.finditer(message):
        if match.start() > position:
            segments.append(
                {
                    "type": "text",
                    "data": {"text": _unescape(message[position : match.start()], in_code=False)},
                }
            )
        data: dict[str, str] = {}
        for pair in match.group(2).split(",")[1:]:
            key, _, value = pair.partition("=")
            data[key] = _unescape(value, in_code=True)
        segments.append({"type": match.group(1), "data": data})
        position = match.end()
    if position < len(message):
        segments.append({"type": "text", "data": {"text": _unescape(message[position:], in_code=False)}})
    return segments


def segments_of(event: dict[str, Any]) -> list[dict[str, Any]]:
    message = event.get("message")
    if isinstance(message, list):
        return [s for s in message if isinstance(s, dict)]
    if isinstance(message, str):
        return parse_cq(message)
    return []


def _seconds(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    # Some clients fall back to milliseconds.
    return number / 1000 if number > 1e11 else number


def parse(event: dict[str, Any], *, self_id: str) -> QQMessage | None:
    """The event as a QQMessage, or None for an event the adapter does not answer."""
    if event.get("post_type") != "message":
        return None
    kind = event.get("message_type")
    user = str(event.get("user_id") or "")
    message_id = str(event.get("message_id") or "")
    if kind not in (GROUP, PRIVATE) or not user or not message_id or user == self_id:
        return None
    texts: list[str] = []
    images: list[QQImage] = []
    mentioned = unsupported = False
    reply_to = ""
    for segment in segments_of(event):
        kind_of = str(segment.get("type") or "")
        data = segment.get("data") if isinstance(segment.get("data"), dict) else {}
        if kind_of == "text":
            texts.append(str(data.get("text") or ""))
        elif kind_of == "at":
            qq = str(data.get("qq") or "")
            if qq == self_id:
                mentioned = True
            elif qq:
                texts.append(f"@{qq}" if qq != "all" else "@all")
        elif kind_of == "reply":
            reply_to = str(data.get("id") or "")
        elif kind_of == "image":
            images.append(
                QQImage(
                    url=str(data.get("url") or ""),
                    file=str(data.get("file") or ""),
                    name=str(data.get("file") or "image")[:100],
                    size=int(data["file_size"]) if str(data.get("file_size") or "").isdigit() else None,
                )
            )
        elif kind_of not in SKIPPED:
            unsupported = True
    text = "".join(texts).strip()
    sender = event.get("sender") if isinstance(event.get("sender"), dict) else {}
    name = str(sender.get("card") or sender.get("nickname") or "")
    chat = str(event.get("group_id") or "") if kind == GROUP else user
    if not chat:
        return None
    return QQMessage(
        protocol="onebot",
        kind=kind,
        chat=chat,
        user=user,
        message_id=message_id,
        text=text,
        addressed=kind == PRIVATE or mentioned or text.startswith("/"),
        images=tuple(images),
        unsupported=unsupported,
        sent_at=_seconds(event.get("time")),
        name=name[:200],
        self_id=self_id,
        extra={"reply_to": reply_to} if reply_to else {},
    )
