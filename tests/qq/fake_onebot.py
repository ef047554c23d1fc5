"""A fake OneBot v11 client (what NapCat is to sellerbot), connecting in over the reverse
WebSocket with the real handshake, for the adapter's real server.

It sends what NapCat sends — the lifecycle event, heartbeats with their interval, message events
in the array format (or the string format with CQ codes) — and answers the bot's actions:
`send_group_msg` and `send_private_msg` (recorded as messages in the chat, each with a
message id), `get_image`. A test can make it drop the connection, reconnect, stop its heartbeats,
send an event twice, leave the next send unanswered (a timeout) or answer it with a retcode
(1200: the client's "something went wrong", after which the message may still have gone).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web


@dataclass
class Posted:
    """A message the bot sent through the client."""

    message_id: int
    kind: str  # "group" or "private"
    chat: str
    segments: list[dict[str, Any]] = field(default_factory=list)
    at: float = field(default_factory=time.monotonic)  # when the client received it

    @property
    def text(self) -> str:
        return "".join(str(s["data"].get("text", "")) for s in self.segments if s["type"] == "text")

    @property
    def images(self) -> list[bytes]:
        found = []
        for s in self.segments:
            if s["type"] == "image" and str(s["data"].get("file", "")).startswith("base64://"):
                found.append(base64.b64decode(s["data"]["file"][len("base64://") :]))
        return found

    @property
    def quoted(self) -> str | None:
        return next((str(s["data"]["id"]) for s in self.segments if s["type"] == "reply"), None)


class FakeOneBotClient:
    def __init__(self, *, self_id: str = "10001", token: str = "", heartbeat_ms: int = 30000) -> None:
        self.self_id = self_id
        self.token = token
        self.heartbeat_ms = heartbeat_ms
        self.url = ""
        self.posted: list[Posted] = []
        self.actions: list[dict[str, Any]] = []
        self.images: dict[str, bytes] = {}
        self.unanswered = 0  # the next sends get no answer (a timeout)
        self.retcodes: list[int] = []  # the next sends fail with these retcodes
        self.beating = True
        self._ids = itertools.count(1000)
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._beat: asyncio.Task[None] | None = None
        self.changed = asyncio.Condition()
        self.connections = 0
        self.closed_by_server = asyncio.Event()
        self._image_runner: web.AppRunner | None = None
        self.image_url = ""

    async def start_image_host(self) -> None:
        """QQ's image servers, where received images' URLs point."""
        app = web.Application()

        async def image(request: web.Request) -> web.Response:
            data = self.images.get(request.match_info["name"])
            return (
                web.Response(body=data, content_type="image/png")
                if data is not None
                else web.Response(status=404)
            )

        app.router.add_get("/download/{name}", image)
        self._image_runner = web.AppRunner(app)
        await self._image_runner.setup()
        site = web.TCPSite(self._image_runner, "127.0.0.1", 0)
        await site.start()
        self.image_url = f"http://127.0.0.1:{self._image_runner.addresses[0][1]}/download"

    async def connect(self, url: str, *, token: str | None = None, self_id: str | None = None) -> int:
        """Connect as NapCat does; returns the HTTP status if the server refused the handshake, 101 if
        it accepted."""
        self.url = url
        self._session = self._session or aiohttp.ClientSession()
        headers = {
            "X-Self-ID": self_id or self.self_id,
            "X-Client-Role": "Universal",
            "Authorization": f"Bearer {self.token if token is None else token}",
            "User-Agent": "OneBot/11",
        }
        try:
            self._ws = await self._session.ws_connect(url, headers=headers, heartbeat=None)
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status
        self.connections += 1
        self.closed_by_server.clear()
        self._reader = asyncio.create_task(self._read(self._ws))
        await self._ws.send_json(
            self._base("meta_event") | {"meta_event_type": "lifecycle", "sub_type": "connect"}
        )
        if self.heartbeat_ms > 0:
            self._beat = asyncio.create_task(self._beats(self._ws))
        return 101

    async def drop(self) -> None:
        """The connection goes away without a word (the client crashed, the network broke)."""
        if self._beat is not None:
            self._beat.cancel()
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)

    async def close(self) -> None:
        await self.drop()
        if self._session is not None:
            await self._session.close()
        if self._image_runner is not None:
            await self._image_runner.cleanup()

    def _base(self, post_type: str) -> dict[str, Any]:
        return {"time": int(time.time()), "self_id": int(self.self_id), "post_type": post_type}

    async def _beats(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while not ws.closed:
            await asyncio.sleep(self.heartbeat_ms / 1000)
            if self.beating and not ws.closed:
                beat = self._base("meta_event") | {
                    "meta_event_type": "heartbeat",
                    "status": {"online": True, "good": True},
                    "interval": self.heartbeat_ms,
                }
                try:
                    await ws.send_json(beat)
                except ConnectionError:
                    return

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for frame in ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                continue
            request = frame.json()
            self.actions.append(request)
            asyncio.create_task(self._answer(ws, request))  # noqa: RUF006 - the client answers in any order
        self.closed_by_server.set()
        async with self.changed:
            self.changed.notify_all()

    async def _answer(self, ws: aiohttp.ClientWebSocketResponse, request: dict[str, Any]) -> None:
        action, params, echo = request.get("action"), request.get("params") or {}, request.get("echo")
        answer: dict[str, Any]
        if action in ("send_group_msg", "send_private_msg"):
            if self.unanswered:
                self.unanswered -= 1
                return
            if self.retcodes:
                code = self.retcodes.pop(0)
                answer = {
                    "status": "failed",
                    "retcode": code,
                    "data": None,
                    "message": "Timeout: NTEvent sendMsg",
                }
            else:
                kind = "group" if action == "send_group_msg" else "private"
                chat = str(params.get("group_id") if kind == "group" else params.get("user_id"))
                posted = Posted(next(self._ids), kind, chat, list(params.get("message") or []))
                self.posted.append(posted)
                answer = {"status": "ok", "retcode": 0, "data": {"message_id": posted.message_id}}
        elif action == "get_image":
            name = str(params.get("file"))
            if name in self.images:
                answer = {
                    "status": "ok",
                    "retcode": 0,
                    "data": {
                        "file": f"/napcat/cache/{name}",
                        "url": f"{self.image_url}/{name}",
                        "file_size": str(len(self.images[name])),
                        "file_name": name,
                    },
                }
            else:
                answer = {"status": "failed", "retcode": 1200, "data": None, "message": "file not found"}
        else:
            answer = {"status": "failed", "retcode": 1404, "data": None, "message": "不支持的Api"}
        answer["echo"] = echo
        if not ws.closed:
            await ws.send_json(answer)
        async with self.changed:
            self.changed.notify_all()

    # -- what sellers do ---------------------------------------------------------------------
    def host_image(self, data: bytes) -> str:
        name = f"{secrets.token_hex(6)}.png"
        self.images[name] = data
        return name

    def message_event(
        self,
        *,
        group: str | None,
        user: str,
        text: str = "",
        at: bool = True,
        images: list[bytes] | None = None,
        reply_to: int | None = None,
        string_format: bool = False,
        segments: list[dict[str, Any]] | None = None,
        message_id: int | None = None,
    ) -> dict[str, Any]:
        found: list[dict[str, Any]] = []
        if reply_to is not None:
            found.append({"type": "reply", "data": {"id": str(reply_to)}})
        if group is not None and at:
            found.append({"type": "at", "data": {"qq": self.self_id}})
        if text:
            found.append({"type": "text", "data": {"text": f" {text}" if group is not None and at else text}})
        for image in images or []:
            name = self.host_image(image)
            found.append(
                {
                    "type": "image",
                    "data": {"file": name, "url": f"{self.image_url}/{name}", "file_size": str(len(image))},
                }
            )
        found += segments or []
        event = self._base("message") | {
            "message_type": "group" if group is not None else "private",
            "sub_type": "normal" if group is not None else "friend",
            "message_id": message_id or next(self._ids),
            "user_id": int(user),
            "font": 14,
            "sender": {"user_id": int(user), "nickname": f"Seller {user}", "card": ""},
        }
        if group is not None:
            event["group_id"] = int(group)
        if string_format:
            event["message"] = to_cq(found)
            event["message_format"] = "string"
        else:
            event["message"] = found
            event["message_format"] = "array"
        event["raw_message"] = to_cq(found)
        return event

    async def send_event(self, event: dict[str, Any]) -> None:
        assert self._ws is not None
        await self._ws.send_json(event)

    async def wait_for(self, predicate: Any) -> None:
        async with self.changed:
            await self.changed.wait_for(predicate)

    def posted_to(self, chat: str) -> list[Posted]:
        return [p for p in self.posted if p.chat == chat]


def _escape(text: str, *, in_code: bool) -> str:
    text = text.replace("&", "&amp;").replace("[", "&#91;").replace("]", "&#93;")
    return text.replace(",", "&#44;") if in_code else text


def to_cq(segments: list[dict[str, Any]]) -> str:
    """The string format of a message: text escaped, other segments as CQ codes."""
    out = []
    for segment in segments:
        if segment["type"] == "text":
            out.append(_escape(segment["data"]["text"], in_code=False))
        else:
            params = "".join(f",{k}={_escape(str(v), in_code=True)}" for k, v in segment["data"].items())
            out.append(f"[CQ:{segment['type']}{params}]")
    return "".join(out)
