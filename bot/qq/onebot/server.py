"""The OneBot v11 reverse WebSocket: sellerbot is the server, the QQ client (NapCat, LLOneBot)
connects to it.

The client opens one "Universal" connection carrying both its events and the bot's actions, with
`X-Self-ID` (the bot's QQ number), `X-Client-Role` and `Authorization: Bearer <token>` (or
`?access_token=`). The token is compared in constant time: missing, 401; wrong, 403. A listener
off the loopback interface must have a token (start-up refuses otherwise).

One connection per bot account: a client that reconnects with the same self id replaces the old
connection (whose socket may be half-open, which TCP can take long to notice). A watchdog closes a
connection that has sent nothing — no heartbeat, no event — for a few heartbeat intervals; the
client then connects again.

Frames: a JSON object with `post_type` is an event; one without is the answer to an action, matched
to its call by `echo` (answers may come in any order). A call that gets no answer in time raises
`ActionTimeout`; its effect is unknown.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import itertools
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSMsgType, web

log = logging.getLogger(__name__)

# Until a client has said how often it beats, it is given this long.
DEFAULT_HEARTBEAT_SECONDS = 30.0
MAX_FRAME_BYTES = 64 * 1024 * 1024


class ActionFailed(Exception):
    def __init__(self, action: str, retcode: int, message: str) -> None:
        self.action, self.retcode, self.message = action, retcode, message
        super().__init__(f"{action}: retcode {retcode} {message}".strip())


class ActionTimeout(Exception):
    """No answer in time (or the connection closed first): the action may or may not have run."""


def is_loopback(host: str) -> bool:
    """Whether a listener on `host` is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Connection:
    """One client's connection: its bot account, its socket and the actions waiting for answers."""

    def __init__(self, self_id: str, ws: web.WebSocketResponse) -> None:
        self.self_id = self_id
        self.ws = ws
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._echo = itertools.count(1)
        self._prefix = secrets.token_hex(4)
        self.heartbeat_seconds = DEFAULT_HEARTBEAT_SECONDS
        self.beating = False  # the client has sent a heartbeat (the watchdog then watches)
        self.rhythm = asyncio.Event()  # set when the heartbeat interval is learnt or changes
        self.heard = asyncio.Event()  # a heartbeat has come
        self.last_seen = asyncio.get_running_loop().time()
        self.closed = asyncio.Event()

    def seen(self) -> None:
        self.last_seen = asyncio.get_running_loop().time()

    async def call(self, action: str, params: dict[str, Any], *, within: float) -> dict[str, Any]:
        """Run an action; returns its `data`. ActionFailed if the client refused it, ActionTimeout
        if no answer came in time."""
        echo = f"{self._prefix}-{next(self._echo)}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[echo] = future
        try:
            if self.ws.closed:
                raise ActionTimeout(f"{action}: the connection is closed")
            await self.ws.send_json({"action": action, "params": params, "echo": echo})
            async with asyncio.timeout(within):
                answer = await future
        except TimeoutError:
            raise ActionTimeout(f"{action}: no answer within {within:.0f} s") from None
        except ConnectionError as exc:
            raise ActionTimeout(f"{action}: {exc!r}") from None
        finally:
            self._pending.pop(echo, None)
        status = answer.get("status")
        retcode = int(answer.get("retcode") or 0)
        if status == "failed" or retcode not in (0, 1):
            raise ActionFailed(action, retcode, str(answer.get("message") or answer.get("wording") or ""))
        data = answer.get("data")
        return data if isinstance(data, dict) else {}

    def answered(self, frame: dict[str, Any]) -> None:
        future = self._pending.get(str(frame.get("echo") or ""))
        if future is not None and not future.done():
            future.set_result(frame)
        elif frame.get("echo") is None:
            log.warning("OneBot %s: an answer without echo: %s", self.self_id, str(frame)[:200])

    def fail_pending(self) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ActionTimeout("the connection closed before the answer"))

    async def close(self, message: str) -> None:
        self.fail_pending()
        if not self.ws.closed:
            await self.ws.close(code=1000, message=message.encode())


EventHandler = Callable[[Connection, dict[str, Any]], Awaitable[None]]


class OneBotServer:
    def __init__(
        self,
        *,
        path: str,
        access_token: str,
        on_event: EventHandler,
        missed_heartbeats: float = 3.0,
    ) -> None:
        self.path = path
        self._token = access_token.encode()
        self.on_event = on_event
        self.missed_heartbeats = missed_heartbeats
        self.connections: dict[str, Connection] = {}
        self.connected = asyncio.Condition()
        self._refusals = 0

    def install(self, app: web.Application) -> None:
        app.router.add_get(self.path, self.handle)

    def _authorised(self, request: web.Request) -> web.Response | None:
        if not self._token:
            return None
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        token = given.strip() if scheme.lower() in ("bearer", "token") else ""
        token = token or request.query.get("access_token", "")
        if not token:
            return self._refuse(401, "missing access token")
        if not hmac.compare_digest(token.encode("utf-8", "surrogateescape"), self._token):
            return self._refuse(403, "wrong access token")
        return None

    def _refuse(self, status: int, why: str) -> web.Response:
        # A client retries every few seconds: the log says it once, then every 100th time.
        self._refusals += 1
        if self._refusals == 1 or self._refusals % 100 == 0:
            log.warning("OneBot connection refused: %s (%d so far)", why, self._refusals)
        return web.json_response(
            {"status": "failed", "retcode": 1403 if status == 403 else 1401}, status=status
        )

    async def handle(self, request: web.Request) -> web.StreamResponse:
        refused = self._authorised(request)
        if refused is not None:
            return refused
        self_id = request.headers.get("X-Self-ID", "").strip()
        if not self_id.isdigit():
            return web.json_response({"status": "failed", "message": "X-Self-ID missing"}, status=400)
        ws = web.WebSocketResponse(
            max_msg_size=MAX_FRAME_BYTES, autoping=True, heartbeat=DEFAULT_HEARTBEAT_SECONDS
        )
        await ws.prepare(request)
        connection = Connection(self_id, ws)
        old = self.connections.get(self_id)
        async with self.connected:
            self.connections[self_id] = connection
            self.connected.notify_all()
        if old is not None:
            log.info("OneBot %s connected again; the old connection is closed", self_id)
            await old.close("replaced by a new connection")
        log.info("OneBot %s connected (%s)", self_id, request.headers.get("X-Client-Role", "Universal"))
        watchdog = asyncio.create_task(self._watch(connection))
        try:
            await self._read(connection)
        finally:
            watchdog.cancel()
            connection.fail_pending()
            connection.closed.set()
            if self.connections.get(self_id) is connection:
                del self.connections[self_id]
                log.info("OneBot %s disconnected", self_id)
        return ws

    async def _read(self, connection: Connection) -> None:
        async for frame in connection.ws:
            if frame.type != WSMsgType.TEXT:
                if frame.type == WSMsgType.ERROR:
                    log.warning("OneBot %s: %r", connection.self_id, connection.ws.exception())
                continue
            connection.seen()
            try:
                data = json.loads(frame.data)
            except ValueError:
                log.warning("OneBot %s sent something that is not JSON", connection.self_id)
                continue
            if not isinstance(data, dict):
                continue
            if "post_type" not in data:
                connection.answered(data)
                continue
            if data.get("post_type") == "meta_event":
                interval = data.get("interval")
                if (
                    data.get("meta_event_type") == "heartbeat"
                    and isinstance(interval, int | float)
                    and interval > 0
                ):
                    connection.heard.set()
                    if not connection.beating or connection.heartbeat_seconds != interval / 1000:
                        connection.heartbeat_seconds = interval / 1000
                        connection.beating = True
                        connection.rhythm.set()  # the watchdog looks again with the new interval
                continue
            try:
                await self.on_event(connection, data)
            except Exception as exc:  # one bad event must not drop the connection
                log.error("OneBot %s: an event failed", connection.self_id, exc_info=exc)

    async def _watch(self, connection: Connection) -> None:
        """Close the connection once its heartbeats have stopped for `missed_heartbeats`
        intervals. (Before its first heartbeat — a client may have them switched off — WebSocket
        pings find a dead connection.)"""
        loop = asyncio.get_running_loop()
        while not connection.ws.closed:
            allowed = connection.heartbeat_seconds * self.missed_heartbeats
            silent = loop.time() - connection.last_seen
            if connection.beating and silent >= allowed:
                log.warning("OneBot %s sent no heartbeat for %.0f s; closing it", connection.self_id, silent)
                await connection.close("no heartbeat")
                return
            connection.rhythm.clear()
            try:
                await asyncio.wait_for(connection.rhythm.wait(), timeout=max(0.05, allowed - silent))
            except TimeoutError:
                pass

    def serves(self, chat_key: str) -> bool:
        """Whether a chat (`<self id>:<kind>:<chat>`) belongs to a bot account connected here."""
        return chat_key.split(":", 1)[0] in self.connections

    async def connection(self, self_id: str, *, wait: float) -> Connection | None:
        """The connection of bot account `self_id` (any, if empty and only one is connected),
        waiting up to `wait` seconds for the client to (re)connect."""

        def find() -> Connection | None:
            if self_id:
                return self.connections.get(self_id)
            return next(iter(self.connections.values())) if len(self.connections) == 1 else None

        async with self.connected:
            try:
                async with asyncio.timeout(wait):
                    await self.connected.wait_for(lambda: find() is not None)
            except TimeoutError:
                return None
            return find()

    async def close(self) -> None:
        for connection in list(self.connections.values()):
            await connection.close("sellerbot is stopping")
