"""Sending through a OneBot client: `send_group_msg` and `send_private_msg` on the connection of
the bot account the conversation belongs to, as segments — in a group quoting the message it
answers (a `reply` segment), images and files as `base64://` data (the client may run on another
machine, so no path of ours means anything to it).

A send whose answer never came, or that failed with retcode 1200 (the client's "it went wrong
somewhere", which includes its own timeouts), may still have been delivered: it is recorded as
unknown and never sent again. Other refusals (bad parameters, an unknown action) are failures.

A seller's image is fetched from the URL in its segment, or through `get_image` (whose answer has
a URL, or with the client's `enableLocalFile2Url`, the content in base64).
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any

import aiohttp

from bot.qq.events import GROUP, QQImage, Target
from bot.qq.files import FileTooLarge, read_limited
from bot.qq.onebot.server import ActionFailed, ActionTimeout, OneBotServer
from bot.qq.render import Out, OutText
from bot.qq.sending import SendResult, Slot
from bot.runtime.deliveries import Readiness
from services.models import SendOutcome

log = logging.getLogger(__name__)

# retcodes after which the message may have gone all the same
MAYBE_SENT = {1200}
DOWNLOAD_TIMEOUT_SECONDS = 30.0


def segments(target: Target, out: Out) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if target.kind == GROUP and target.reply_to.isdigit():
        found.append({"type": "reply", "data": {"id": target.reply_to}})
    if isinstance(out, OutText):
        found.append({"type": "text", "data": {"text": out.text}})
        return found
    data = "base64://" + base64.b64encode(out.data).decode()
    if out.is_image:
        found.append({"type": "image", "data": {"file": data}})
    else:
        found.append({"type": "file", "data": {"file": data, "name": out.name or "file"}})
    return found


class OneBotTransport:
    protocol = "onebot"

    def __init__(self, server: OneBotServer, *, action_timeout: float) -> None:
        self.server = server
        self.action_timeout = action_timeout
        self._session: aiohttp.ClientSession | None = None

    def bot_id(self, self_id: str) -> str:
        return self_id

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def readiness(self, target: Target) -> Readiness:
        """A message goes from the process the bot account's client is connected to."""
        connections = self.server.connections
        here = target.self_id in connections if target.self_id else bool(connections)
        return Readiness.SEND if here else Readiness.ELSEWHERE

    async def send(self, target: Target, out: Out, *, slot: Slot) -> SendResult:
        connection = await self.server.connection(target.self_id, wait=self.action_timeout)
        if connection is None:
            return SendResult(SendOutcome.FAILED, failure="not_connected")
        if target.kind == GROUP:
            action, params = "send_group_msg", {"group_id": int(target.chat)}
        else:
            action, params = "send_private_msg", {"user_id": int(target.chat)}
        params["message"] = segments(target, out)
        await slot()
        try:
            data = await connection.call(action, params, within=self.action_timeout)
        except ActionTimeout as exc:
            log.warning("OneBot %s: %s", connection.self_id, exc)
            return SendResult(SendOutcome.UNKNOWN, failure="timeout")
        except ActionFailed as exc:
            outcome = SendOutcome.UNKNOWN if exc.retcode in MAYBE_SENT else SendOutcome.FAILED
            return SendResult(outcome, failure=f"retcode {exc.retcode}")
        return SendResult(SendOutcome.SENT, message_id=str(data.get("message_id") or ""))

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=DOWNLOAD_TIMEOUT_SECONDS)
            )
        return self._session

    async def download(self, image: QQImage, *, self_id: str, max_bytes: int) -> bytes:
        url = image.url
        if not url.startswith(("http://", "https://")) and image.file:
            connection = await self.server.connection(self_id, wait=0)
            if connection is None:
                raise ConnectionError("the QQ client is not connected")
            found = await connection.call("get_image", {"file": image.file}, within=self.action_timeout)
            encoded = str(found.get("base64") or "")
            if encoded:
                try:
                    data = base64.b64decode(encoded, validate=False)
                except (binascii.Error, ValueError) as exc:
                    raise ConnectionError("get_image returned bad base64") from exc
                if len(data) > max_bytes:
                    raise FileTooLarge(len(data), max_bytes)
                return data
            url = str(found.get("url") or "")
        if not url.startswith(("http://", "https://")):
            raise ConnectionError("the image has no address the bot can fetch")
        async with self.session.get(url) as response:
            if response.status != 200:
                raise ConnectionError(f"image download: HTTP {response.status}")
            return await read_limited(response, max_bytes)
