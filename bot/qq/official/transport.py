"""Sending through the official API: every message is a passive reply.

A message answers the seller's newest message (its `msg_id`; for a keyboard press, the event's
`event_id`) with the next `msg_seq`, both taken from the reply window (`services.outbound`): within
5 minutes in a group and 60 in a private chat, a few answers per message. A message the window no
longer allows is not sent (`window_closed`), and the adapter says so instead of trying again.

Refusals by code: a duplicate `msg_seq` means the message went already (a retry after a lost
answer); a closed window is final; a URL the bot may not send is sent once more with its links
written so that QQ does not take them for links; anything else is a failure with its reason.

Images go through the files endpoint first (its `file_info` then goes in a media message);
other files cannot be sent over this API.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from bot.config import QQSettings
from bot.qq.events import CHANNEL, GROUP, QQImage, Target
from bot.qq.official.client import OfficialClient, QQApiError
from bot.qq.official.events import BUTTON_PREFIX
from bot.qq.render import Out, OutFile, OutText, defang_links, escape_markdown
from bot.qq.sending import SendResult, Slot
from bot.runtime.deliveries import Readiness
from services import outbound
from services.db import Sessions, is_unavailable
from services.models import SendOutcome, utcnow

log = logging.getLogger(__name__)

KEYBOARD_ROW = 2
# The msg_seq of a notice sent while the database (and so the reply windows) cannot be reached.
NOTICE_SEQ = 99
KEYBOARD_ROWS = 5


def window_rule(settings: QQSettings, kind: str) -> outbound.WindowRule:
    if kind == GROUP:
        return outbound.WindowRule(settings.group_reply_minutes, settings.group_replies_per_message)
    return outbound.WindowRule(settings.private_reply_minutes, settings.private_replies_per_message)


def keyboard(out: OutText, target: Target) -> dict[str, Any]:
    """The choices as a keyboard: each button sends the core's button id back; in a group only the
    seller whose question it answers may press them."""
    permission: dict[str, Any] = (
        {"type": 0, "specify_user_ids": [target.user]}
        if target.kind == GROUP and target.user
        else {"type": 2}
    )
    buttons = [
        {
            "id": str(index),
            "render_data": {"label": button.label, "visited_label": button.label, "style": 1},
            "action": {
                "type": 1,
                "permission": permission,
                "data": f"{BUTTON_PREFIX}{button.id}",
                "unsupport_tips": button.label,
            },
        }
        for index, button in enumerate(out.keyboard[: KEYBOARD_ROW * KEYBOARD_ROWS])
    ]
    rows = [{"buttons": buttons[i : i + KEYBOARD_ROW]} for i in range(0, len(buttons), KEYBOARD_ROW)]
    return {"content": {"rows": rows}}


class OfficialTransport:
    protocol = "official"

    def __init__(self, client: OfficialClient, sessions: Sessions, settings: QQSettings) -> None:
        self.client = client
        self.sessions = sessions
        self.settings = settings
        # What time it is for the reply windows (tests move it on).
        self.clock: Callable[[], datetime] = utcnow

    def bot_id(self, self_id: str) -> str:
        return self.client.app_id

    async def close(self) -> None:
        await self.client.close()

    async def readiness(self, target: Target) -> Readiness:
        """Whether the seller's newest message may still be answered (else the message is held
        until the seller writes again)."""
        open_now = await outbound.window_open(self.sessions, **self._window(target))
        return Readiness.SEND if open_now else Readiness.HOLD

    def _window(self, target: Target) -> dict[str, Any]:
        """The seller's reply window, as `services.outbound` names it, at the transport's time."""
        return {
            "channel": CHANNEL,
            "chat_key": target.chat_key,
            "user_id": target.user,
            "rule": window_rule(self.settings, target.kind),
            "now": self.clock(),
        }

    async def send(self, target: Target, out: Out, *, slot: Slot) -> SendResult:
        if isinstance(out, OutFile) and not out.is_image:
            return SendResult(SendOutcome.FAILED, failure="file_not_supported")
        try:
            body = await self._body(target, out)
        except QQApiError as exc:
            return SendResult(SendOutcome.FAILED, failure=f"upload: {exc.kind}")
        result = await self._answer(target, body, slot)
        if result.failure == "url_not_allowed" and isinstance(out, OutText):
            log.warning(
                "QQ refused a link in a message to %s; sending it with the links as text", target.chat_key
            )
            defanged = await self._body(target, OutText(defang_links(out.text), out.keyboard))
            result = await self._answer(target, defanged, slot)
        return result

    async def _body(self, target: Target, out: Out) -> dict[str, Any]:
        if isinstance(out, OutFile):
            info = await self.client.upload_image(target.kind, target.chat, out.data)
            return {"msg_type": 7, "content": " ", "media": {"file_info": info}}
        if out.keyboard:
            return {
                "msg_type": 2,
                "markdown": {"content": escape_markdown(out.text)},
                "keyboard": keyboard(out, target),
            }
        return {"msg_type": 0, "content": out.text}

    async def _answer(self, target: Target, body: dict[str, Any], slot: Slot) -> SendResult:
        try:
            answer = await outbound.take_reply(self.sessions, **self._window(target))
        except Exception as exc:
            if not (is_unavailable(exc) and target.reply_to):
                raise
            # The database is down (the seller is being told so): answer their message directly,
            # with a number kept for such notices, which no window hands out.
            answer = outbound.Answer(target.reply_to, "msg_id", NOTICE_SEQ)
        if answer is None:
            return SendResult(SendOutcome.FAILED, failure="window_closed")
        body = {**body, answer.reference_kind: answer.reference, "msg_seq": answer.seq}
        await slot()
        try:
            sent = await self.client.send_message(target.kind, target.chat, body)
        except QQApiError as exc:
            if exc.kind == "duplicate":
                return SendResult(SendOutcome.SENT, failure="duplicate")
            return SendResult(
                SendOutcome.FAILED, failure=exc.kind if exc.kind != "refused" else f"code {exc.code}"
            )
        except Exception as exc:  # a network error after retries: it may have arrived
            log.warning("QQ: no answer to a message for %s: %r", target.chat_key, exc)
            return SendResult(SendOutcome.UNKNOWN, failure="no_answer")
        return SendResult(SendOutcome.SENT, message_id=str(sent.get("id") or ""))

    async def download(self, image: QQImage, *, self_id: str, max_bytes: int) -> bytes:
        return await self.client.download(image.url, max_bytes=max_bytes)
