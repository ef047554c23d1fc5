"""The core's replies as Bot API calls.

Text goes as plain text (no parse mode, so nothing a seller typed can turn into markup), split
into messages of at most 4,096 characters (Telegram counts UTF-16 code units) at paragraph,
line or word boundaries. Buttons become an inline keyboard on the last part: a callback button
carries `b:<id>` (within Telegram's 64 bytes); a private-chat button becomes a link
`https://t.me/<bot>?start=<payload>`, Telegram's deep link that opens the private chat and
sends `/start <payload>`. In groups every reply quotes the message it answers, which also
tells whose question a keyboard belongs to.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from bot.runtime.text import split_paragraphs
from bot.telegram.api import ApiCall, Upload
from bot.telegram.translate import BotIdentity, callback_data
from handlers.types import Button, ButtonKind, Replies, Reply

log = logging.getLogger(__name__)

MAX_MESSAGE_UTF16 = 4096
MAX_CAPTION_UTF16 = 1024
# Photos Telegram shows as photos (larger images, other types: as documents).
PHOTO_TYPES = {"image/jpeg", "image/png", "image/webp"}
MAX_PHOTO_BYTES = 10 * 1024 * 1024
# Deep-link payloads Telegram accepts in t.me/<bot>?start=<payload>.
_PAYLOAD_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
NO_PREVIEW = {"is_disabled": True}
# Labels up to this long share a keyboard row two by two.
_SHORT_LABEL = 14


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = MAX_MESSAGE_UTF16) -> list[str]:
    """Parts of at most `limit` UTF-16 units (Telegram's measure), cut at paragraph, line or word
    boundaries."""
    return split_paragraphs(text, limit, units=utf16_len)


def deep_link(identity: BotIdentity, payload: str) -> str:
    if _PAYLOAD_RE.match(payload):
        return f"https://t.me/{identity.username}?start={payload}"
    log.error("deep-link payload %r is not allowed by Telegram; linking to the chat only", payload)
    return f"https://t.me/{identity.username}"


def keyboard(buttons: Sequence[Button], identity: BotIdentity) -> dict[str, Any] | None:
    """An inline keyboard (reply_markup) for the core's buttons."""
    made: list[dict[str, str]] = []
    for button in buttons:
        if button.kind is ButtonKind.PRIVATE_CHAT:
            made.append({"text": button.label, "url": deep_link(identity, button.id)})
            continue
        data = callback_data(button.id)
        if data is None:
            # A core bug (ids are a few characters); better no button than one that cannot work.
            log.error("button id %r does not fit in callback data; button left out", button.id)
            continue
        made.append({"text": button.label, "callback_data": data})
    if not made:
        return None
    rows: list[list[dict[str, str]]] = []
    for item in made:
        last = rows[-1] if rows else None
        if (
            last is not None
            and len(last) == 1
            and len(last[0]["text"]) <= _SHORT_LABEL
            and len(item["text"]) <= _SHORT_LABEL
            and "url" not in item
            and "url" not in last[0]
        ):
            last.append(item)
        else:
            rows.append([item])
    return {"inline_keyboard": rows}


class Renderer:
    def __init__(self, identity: BotIdentity) -> None:
        self.identity = identity

    def replies(
        self,
        chat_id: int,
        replies: Sequence[Reply],
        *,
        thread_id: int | None = None,
        reply_to: int | None = None,
    ) -> list[ApiCall]:
        """The calls that show a turn's replies — none if the core queued them in the durable
        outbox (its sender shows them)."""
        if isinstance(replies, Replies) and replies.queued:
            return []
        methods: list[ApiCall] = []
        for reply in replies:
            methods += self.text(chat_id, reply.text, reply.buttons, thread_id=thread_id, reply_to=reply_to)
            for file in reply.files:
                params = _placed(chat_id, thread_id, reply_to)
                params["document"] = Upload(file.name or "file", file.data)
                methods.append(ApiCall("sendDocument", params))
        return methods

    def text(
        self,
        chat_id: int,
        text: str,
        buttons: Sequence[Button] = (),
        *,
        thread_id: int | None = None,
        reply_to: int | None = None,
    ) -> list[ApiCall]:
        parts = split_text(text or "…")
        markup = keyboard(buttons, self.identity)
        methods = []
        for index, part in enumerate(parts):
            params = _placed(chat_id, thread_id, reply_to)
            params.update(text=part, link_preview_options=NO_PREVIEW)
            if markup is not None and index == len(parts) - 1:
                params["reply_markup"] = markup
            methods.append(ApiCall("sendMessage", params))
        return methods

    def file(
        self,
        chat_id: int,
        *,
        name: str,
        data: bytes,
        mime_type: str = "",
        caption: str = "",
        buttons: Sequence[Button] = (),
        thread_id: int | None = None,
        reply_to: int | None = None,
    ) -> list[ApiCall]:
        """A file with its caption: a photo if it is one Telegram shows as a photo, else a
        document. A caption too long for one goes first, as text."""
        methods: list[ApiCall] = []
        caption = caption.strip()
        if utf16_len(caption) > MAX_CAPTION_UTF16:
            methods += self.text(chat_id, caption, thread_id=thread_id, reply_to=reply_to)
            caption = ""
        markup = keyboard(buttons, self.identity)
        params = _placed(chat_id, thread_id, reply_to)
        if caption:
            params["caption"] = caption
        if markup is not None:
            params["reply_markup"] = markup
        upload = Upload(name or "file", data)
        if mime_type in PHOTO_TYPES and len(data) <= MAX_PHOTO_BYTES:
            methods.append(ApiCall("sendPhoto", {**params, "photo": upload}))
        else:
            methods.append(ApiCall("sendDocument", {**params, "document": upload}))
        return methods


def _placed(chat_id: int, thread_id: int | None, reply_to: int | None) -> dict[str, Any]:
    """Where a message goes: the chat, its forum topic, the message it quotes."""
    params: dict[str, Any] = {"chat_id": chat_id}
    if thread_id is not None:
        params["message_thread_id"] = thread_id
    if reply_to is not None:
        # If the user deleted their message meanwhile, the answer still goes out.
        params["reply_parameters"] = {"message_id": reply_to, "allow_sending_without_reply": True}
    return params
