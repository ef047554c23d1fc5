"""A fake of the official QQ Bot API on loopback, for the adapter's real HTTP and WebSocket clients.

It keeps the platform's rules that the adapter must respect, as the platform documents them:

- the token endpoint (AppID and AppSecret) hands out tokens that expire; calls need
  `Authorization: QQBot <token>` (a wrong or expired one: 401, code 11244);
- messages are passive replies only: `msg_id` (or a button press's `event_id`) of a seller's message
  in that chat, within 5 minutes in a group and 60 in a private chat, at most 5 (group) or 4
  (private) answers per message, each with a new `msg_seq` (a repeated one: 40054005, and the
  message is not shown twice); an expired or used-up window: 40034128; a message with a web
  address: 40054010;
- images go through the files endpoint (base64 `file_data`), whose `file_info` a media message
  (msg_type 7) then refers to; markdown (msg_type 2) only where the test allowed it;
- events reach the bot by webhook (signed with the key derived from the bot's secret, as the
  platform signs them) or over the WebSocket gateway (Hello, Identify or Resume, heartbeats,
  READY, close codes on demand);
- a test can make the next calls fail with a code (flood control), and move the clock on.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import re
import secrets
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from bot.qq.official.signing import Signer

GROUP_WINDOW = 5 * 60
PRIVATE_WINDOW = 60 * 60
GROUP_REPLIES = 5
PRIVATE_REPLIES = 4
_URL = re.compile(r"https?://", re.IGNORECASE)


@dataclass
class Sent:
    """A message the bot put in a chat."""

    id: str
    kind: str  # "group" or "user"
    chat: str
    msg_type: int
    text: str
    reference: str  # the msg_id or event_id it answers
    seq: int
    image: bytes | None = None
    keyboard: list[dict[str, Any]] | None = None
    at: float = field(default_factory=time.monotonic)  # when the fake received it


@dataclass
class Inbound:
    id: str
    kind: str
    chat: str
    user: str
    at: float  # the fake's clock
    replies: int = 0
    seqs: set[int] = field(default_factory=set)


class FakeOfficialAPI:
    def __init__(self, *, app_id: str = "102030405", secret: str = "s3cretS3cretS3cret0123456789") -> None:
        self.app_id = app_id
        self.secret = secret
        self.signer = Signer(secret)
        self.token_lifetime = 7200
        self.tokens: dict[str, float] = {}  # token → expiry (fake clock)
        self.token_requests = 0
        self.offset = 0.0  # seconds the fake's clock is ahead of the real one
        self.inbound: dict[str, Inbound] = {}
        self.sent: list[Sent] = []
        self.refusals: list[dict[str, Any]] = []
        self.files: dict[str, bytes] = {}
        self.images: dict[str, bytes] = {}
        self.acks: list[str] = []
        self.markdown_allowed = False
        self.lose_answers = 0  # the next messages are shown, but their answers never reach the bot
        self._fail: list[tuple[int, int, str]] = []  # (http status, code, message) for the next calls
        self._ids = itertools.count(1)
        self._seq = itertools.count(1)
        self.webhook_url = ""
        self.gateway = FakeGateway(self)
        self.changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.url = ""
        self._client: aiohttp.ClientSession | None = None

    # -- the server -------------------------------------------------------------------------
    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/app/getAppAccessToken", self._token)
        app.router.add_post("/v2/{kind:groups|users}/{chat}/messages", self._message)
        app.router.add_post("/v2/{kind:groups|users}/{chat}/files", self._file)
        app.router.add_put("/interactions/{id}", self._interaction)
        app.router.add_get("/gateway", self._gateway_url)
        app.router.add_get("/websocket", self.gateway.handle)
        app.router.add_get("/images/{name}", self._image)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        self._client = aiohttp.ClientSession()

    async def close(self) -> None:
        await self.gateway.close()
        if self._client is not None:
            await self._client.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        """Move the platform's clock on (reply windows close, tokens expire)."""
        self.offset += seconds

    def fail_next(self, code: int, *, times: int = 1, status: int = 400, message: str = "injected") -> None:
        self._fail += [(status, code, message)] * times

    async def _changed(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    async def wait_for(self, predicate: Any) -> None:
        """Until `predicate()` holds (checked whenever the bot sent something)."""
        async with self.changed:
            await self.changed.wait_for(predicate)

    # -- token -----------------------------------------------------------------------------------
    async def _token(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.token_requests += 1
        if body.get("appId") != self.app_id or body.get("clientSecret") != self.secret:
            return web.json_response({"code": 100016, "message": "invalid appid or secret"})
        token = secrets.token_hex(16)
        self.tokens[token] = self.now() + self.token_lifetime
        return web.json_response({"access_token": token, "expires_in": str(self.token_lifetime)})

    def _authorised(self, request: web.Request) -> web.Response | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme != "QQBot" or self.tokens.get(token, 0) < self.now():
            return web.json_response({"code": 11244, "message": "token not exist or expire"}, status=401)
        if request.headers.get("X-Union-Appid") != self.app_id:
            return web.json_response({"code": 11251, "message": "appid error"}, status=401)
        return None

    def _injected(self) -> web.Response | None:
        if not self._fail:
            return None
        status, code, message = self._fail.pop(0)
        return web.json_response({"code": code, "err_code": code, "message": message}, status=status)

    def _refuse(self, code: int, message: str, body: dict[str, Any]) -> web.Response:
        self.refusals.append({"code": code, "message": message, "body": body})
        return web.json_response(
            {"code": code, "err_code": code, "message": message, "trace_id": "t"}, status=400
        )

    # -- messages ----------------------------------------------------------------------------------
    async def _message(self, request: web.Request) -> web.Response:
        refused = self._authorised(request) or self._injected()
        if refused is not None:
            return refused
        kind, chat = request.match_info["kind"][:-1], request.match_info["chat"]
        body = await request.json()
        reference = str(body.get("msg_id") or body.get("event_id") or "")
        origin = self.inbound.get(reference)
        if origin is None or origin.chat != chat or (origin.kind == "group") != (kind == "group"):
            return self._refuse(40034024, "请求参数msg_id无效或越权", body)
        seq = int(body.get("msg_seq") or 1)
        if seq in origin.seqs:
            return self._refuse(40054005, "消息被去重，请检查请求msgseq", body)
        window, most = (GROUP_WINDOW, GROUP_REPLIES) if kind == "group" else (PRIVATE_WINDOW, PRIVATE_REPLIES)
        if self.now() - origin.at > window or origin.replies >= most:
            return self._refuse(40034128, "被动回复时间或次数超限", body)
        msg_type = int(body.get("msg_type", 0))
        text = str(body.get("content") or "")
        image = None
        keyboard = None
        if msg_type == 0:
            if not text.strip():
                return self._refuse(50006, "消息为空", body)
            if _URL.search(text):
                return self._refuse(40054010, "不允许发送URL", body)
        elif msg_type == 7:
            info = str((body.get("media") or {}).get("file_info") or "")
            if info not in self.files:
                return self._refuse(304080, "文件信息无效", body)
            image = self.files[info]
        elif msg_type == 2:
            if not self.markdown_allowed:
                return self._refuse(304036, "无 Markdown 模板权限", body)
            text = str((body.get("markdown") or {}).get("content") or "")
            rows = ((body.get("keyboard") or {}).get("content") or {}).get("rows") or []
            keyboard = [b for row in rows for b in row.get("buttons", [])]
            if _URL.search(text):
                return self._refuse(40054010, "不允许发送URL", body)
        else:
            return self._refuse(340069, "消息类型无效", body)
        origin.replies += 1
        origin.seqs.add(seq)
        sent = Sent(
            id=f"BOT{next(self._ids)}",
            kind=kind,
            chat=chat,
            msg_type=msg_type,
            text=text,
            reference=reference,
            seq=seq,
            image=image,
            keyboard=keyboard,
        )
        self.sent.append(sent)
        await self._changed()
        if self.lose_answers:
            # The message went, but the answer is lost on the way back (a proxy's 502).
            self.lose_answers -= 1
            return web.Response(status=502, text="Bad Gateway")
        return web.json_response({"id": sent.id, "timestamp": int(self.now())})

    async def _file(self, request: web.Request) -> web.Response:
        refused = self._authorised(request) or self._injected()
        if refused is not None:
            return refused
        body = await request.json()
        if body.get("file_type") != 1 or body.get("srv_send_msg"):
            return self._refuse(850026, "file type not allowed", body)
        try:
            data = base64.b64decode(str(body.get("file_data") or ""), validate=True)
        except ValueError:
            return self._refuse(850018, "bad file data", body)
        info = base64.b64encode(secrets.token_bytes(12)).decode()
        self.files[info] = data
        return web.json_response({"file_uuid": secrets.token_hex(8), "file_info": info, "ttl": 0})

    async def _interaction(self, request: web.Request) -> web.Response:
        refused = self._authorised(request)
        if refused is not None:
            return refused
        self.acks.append(request.match_info["id"])
        await self._changed()
        return web.Response(status=204)

    async def _gateway_url(self, request: web.Request) -> web.Response:
        refused = self._authorised(request)
        if refused is not None:
            return refused
        return web.json_response({"url": self.url.replace("http://", "ws://") + "/websocket"})

    async def _image(self, request: web.Request) -> web.Response:
        data = self.images.get(request.match_info["name"])
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="image/png")

    # -- what sellers do ---------------------------------------------------------------------------
    def host_image(self, data: bytes) -> str:
        name = f"{secrets.token_hex(6)}.png"
        self.images[name] = data
        return f"{self.url}/images/{name}"

    def message_event(
        self,
        *,
        group: str | None,
        user: str,
        text: str,
        at: bool = True,
        images: list[bytes] | None = None,
        attachments: list[dict[str, Any]] | None = None,
        reply_to: str | None = None,
        message_id: str | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """A seller's message (the event type and its data), remembered so the bot may answer it."""
        message_id = message_id or f"ROBOT1.0_{secrets.token_urlsafe(18)}"
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S+08:00", time.gmtime(self.now() + 8 * 3600))
        data: dict[str, Any] = {"id": message_id, "content": text, "timestamp": stamp}
        found = list(attachments or [])
        for image in images or []:
            found.append(
                {
                    "content_type": "image/png",
                    "filename": "photo.png",
                    "height": 600,
                    "width": 600,
                    "size": len(image),
                    "url": self.host_image(image),
                }
            )
        if found:
            data["attachments"] = found
        if reply_to:
            data["message_reference"] = {"message_id": reply_to}
        if group is None:
            data["author"] = {"id": user, "user_openid": user}
            kind = "C2C_MESSAGE_CREATE"
            chat, chat_kind = user, "user"
        else:
            data["author"] = {"id": user, "member_openid": user}
            data["group_openid"] = group
            # The platform removes the mention and leaves the space before the text.
            if at:
                data["content"] = f" {text}"
            kind = "GROUP_AT_MESSAGE_CREATE" if at else "GROUP_MESSAGE_CREATE"
            chat, chat_kind = group, "group"
        if message_id not in self.inbound:
            self.inbound[message_id] = Inbound(message_id, chat_kind, chat, user, self.now())
        return kind, data

    def press_event(self, *, group: str | None, user: str, data: str) -> tuple[str, dict[str, Any], str]:
        """A seller pressed a keyboard button: the event, and its event id (which may be answered)."""
        event_id = f"INTERACTION_CREATE:{secrets.token_hex(8)}"
        body: dict[str, Any] = {
            "id": secrets.token_hex(8),
            "type": 11,
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S+08:00", time.gmtime(self.now() + 8 * 3600)),
            "data": {"resolved": {"button_data": data, "button_id": "1", "user_id": user}},
            "version": 1,
        }
        if group is None:
            body.update(chat_type=2, scene="c2c", user_openid=user)
            self.inbound[event_id] = Inbound(event_id, "user", user, user, self.now())
        else:
            body.update(chat_type=1, scene="group", group_openid=group, group_member_openid=user)
            self.inbound[event_id] = Inbound(event_id, "group", group, user, self.now())
        return "INTERACTION_CREATE", body, event_id

    # -- deliveries to the bot ---------------------------------------------------------------------
    def envelope(self, kind: str, data: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
        return {
            "op": 0,
            "id": event_id or f"{kind}:{secrets.token_hex(8)}",
            "d": data,
            "s": next(self._seq),
            "t": kind,
        }

    async def post_webhook(
        self, payload: dict[str, Any] | bytes, *, sign: bool = True, signature: str | None = None
    ) -> tuple[int, Any]:
        """Post to the bot's webhook as the platform does: signed over timestamp + body."""
        assert self._client is not None and self.webhook_url
        body = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
        timestamp = str(int(self.now()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "QQBot-Callback",
            "X-Bot-Appid": self.app_id,
        }
        if sign:
            headers["X-Signature-Timestamp"] = timestamp
            headers["X-Signature-Ed25519"] = signature or self.signer.sign(timestamp.encode() + body)
        async with self._client.post(self.webhook_url, data=body, headers=headers) as response:
            try:
                answer = await response.json(content_type=None)
            except ValueError:
                answer = await response.text()
            return response.status, answer

    def sent_to(self, chat: str) -> list[Sent]:
        return [s for s in self.sent if s.chat == chat]


class FakeGateway:
    """The WebSocket gateway: Hello, then Identify (READY) or Resume (the missed events, RESUMED)."""

    def __init__(self, api: FakeOfficialAPI) -> None:
        self.api = api
        self.heartbeat_ms = 45000
        self.sockets: list[web.WebSocketResponse] = []
        self.identifies: list[dict[str, Any]] = []
        self.resumes: list[dict[str, Any]] = []
        self.heartbeats = 0
        self.sessions: dict[str, list[dict[str, Any]]] = defaultdict(list)  # session → events sent
        self.current: web.WebSocketResponse | None = None
        self.session_id = ""
        self.missed: list[dict[str, Any]] = []
        self.ready = asyncio.Event()

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        await ws.send_json({"op": 10, "d": {"heartbeat_interval": self.heartbeat_ms}})
        async for frame in ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                continue
            payload = json.loads(frame.data)
            op = payload.get("op")
            if op == 2:
                token = str(payload["d"].get("token", "")).removeprefix("QQBot ")
                if self.api.tokens.get(token, 0) < self.api.now():
                    await ws.close(code=4004)
                    break
                self.identifies.append(payload["d"])
                self.session_id = secrets.token_hex(8)
                self.current = ws
                seq = next(self.api._seq)
                await ws.send_json(
                    {
                        "op": 0,
                        "s": seq,
                        "t": "READY",
                        "d": {"version": 1, "session_id": self.session_id, "user": {"id": "1", "bot": True}},
                    }
                )
                self.ready.set()
            elif op == 6:
                self.resumes.append(payload["d"])
                if payload["d"].get("session_id") != self.session_id:
                    await ws.send_json({"op": 9, "d": False})
                    continue
                self.current = ws
                for missed in self.missed:
                    await ws.send_json(missed)
                self.missed.clear()
                await ws.send_json({"op": 0, "s": next(self.api._seq), "t": "RESUMED", "d": ""})
                self.ready.set()
            elif op == 1:
                self.heartbeats += 1
                await ws.send_json({"op": 11})
        if self.current is ws:
            self.current = None
            self.ready.clear()
        return ws

    async def dispatch(self, payload: dict[str, Any]) -> None:
        """An event; while the bot is away it waits to be replayed on Resume."""
        if self.current is None or self.current.closed:
            self.missed.append(payload)
            return
        await self.current.send_json(payload)

    async def close_with(self, code: int) -> None:
        """The platform ends the connection with `code`."""
        ws, self.current = self.current, None
        self.ready.clear()
        if ws is not None:
            await ws.close(code=code)

    async def reconnect_request(self) -> None:
        """op 7: the platform asks the bot to connect again (and resume)."""
        ws, self.current = self.current, None
        self.ready.clear()
        if ws is not None:
            await ws.send_json({"op": 7})

    async def invalidate(self) -> None:
        """op 9: the session is no longer valid; the bot must identify anew."""
        self.session_id = ""
        ws, self.current = self.current, None
        self.ready.clear()
        if ws is not None:
            await ws.send_json({"op": 9, "d": False})

    async def close(self) -> None:
        for ws in self.sockets:
            await ws.close()
