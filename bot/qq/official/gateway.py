"""The official API's WebSocket gateway (`[qq] events = "gateway"`), the older way to receive
events, which the platform is retiring in favour of the webhook.

The bot asks `/gateway` for the address and connects. The platform says Hello (op 10, with the
heartbeat interval); the bot identifies (op 2: its token and intents) or, with a session from an
earlier connection, resumes it (op 6: the session and the last sequence number, after which the
platform replays what was missed). Heartbeats (op 1, the last sequence number) keep it open.
Events (op 0) carry a sequence number; READY gives the session id.

When it closes: 4009 (the session timed out) and op 7 (the platform asks for a new connection)
resume; 4006, 4007, 4900–4913 and op 9 (an invalid session) identify anew; 4004 (the token was
refused) fetches a new token and identifies; 4914 and 4915 (the bot is offline or banned) and
bad intents (4013, 4014) end the gateway with an error. Anything else reconnects, with backoff.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from bot.qq.official.client import OfficialClient
from bot.runtime.trouble import backoff_delay

log = logging.getLogger(__name__)

GROUP_AND_C2C_EVENT = 1 << 25
INTERACTION = 1 << 26
RESUMABLE = {4008, 4009}
FATAL = {4010, 4011, 4012, 4013, 4014, 4914, 4915}


class GatewayError(Exception):
    """The platform will not let the bot connect (offline, banned, intents it may not have)."""


class Gateway:
    def __init__(
        self,
        client: OfficialClient,
        *,
        intents: int,
        on_event: Callable[[str, dict[str, Any], str], Awaitable[None]],
    ) -> None:
        self.client = client
        self.intents = intents
        self.on_event = on_event
        self.session_id = ""
        self.seq: int | None = None
        self.ready = asyncio.Event()
        self.connections = 0
        self.identified = 0
        self.resumed = 0

    async def run(self) -> None:
        failures = 0
        while True:
            try:
                url = await self.client.gateway_url()
                async with self.client.session.ws_connect(url, heartbeat=None, max_msg_size=0) as ws:
                    self.connections += 1
                    failures = 0
                    code = await self._serve(ws)
            except GatewayError:
                raise
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                failures += 1
                log.warning("QQ gateway: connection failed (%r); again shortly", exc)
                await asyncio.sleep(backoff_delay(failures))
                continue
            self.ready.clear()
            if code in FATAL:
                raise GatewayError(
                    f"the QQ gateway closed with {code}: the bot may not connect (see docs/operations.md#qq)"
                )
            if code not in RESUMABLE and code != -1:
                self.session_id, self.seq = "", None  # identify anew
            if code == 4004:
                self.client.forget_token()
            log.info("QQ gateway closed (%s); reconnecting", code)
            await asyncio.sleep(backoff_delay(1))

    async def _serve(self, ws: aiohttp.ClientWebSocketResponse) -> int:
        """One connection; returns its close code (-1: the platform asked to resume)."""
        hello = await ws.receive_json(timeout=30)
        if hello.get("op") != 10:
            return 4002
        interval = float((hello.get("d") or {}).get("heartbeat_interval") or 30000) / 1000
        token = f"QQBot {await self.client.token()}"
        if self.session_id and self.seq is not None:
            await ws.send_json(
                {"op": 6, "d": {"token": token, "session_id": self.session_id, "seq": self.seq}}
            )
            self.resumed += 1
        else:
            identify = {"token": token, "intents": self.intents, "shard": [0, 1], "properties": {}}
            await ws.send_json({"op": 2, "d": identify})
            self.identified += 1
        beating = asyncio.create_task(self._beat(ws, interval))
        try:
            async for frame in ws:
                if frame.type != aiohttp.WSMsgType.TEXT:
                    continue
                try:
                    payload = json.loads(frame.data)
                except ValueError:
                    continue
                op = payload.get("op")
                if op == 0:
                    if isinstance(payload.get("s"), int):
                        self.seq = payload["s"]
                    await self._dispatch(payload)
                elif op == 7:
                    await ws.close()
                    return -1
                elif op == 9:
                    await ws.close()
                    return 4006
            return ws.close_code or 1006
        finally:
            beating.cancel()

    async def _dispatch(self, payload: dict[str, Any]) -> None:
        kind = str(payload.get("t") or "")
        data = payload.get("d")
        if kind == "READY" and isinstance(data, dict):
            self.session_id = str(data.get("session_id") or "")
            self.ready.set()
            log.info("QQ gateway ready")
            return
        if kind == "RESUMED":
            self.ready.set()
            log.info("QQ gateway resumed")
            return
        await self.on_event(kind, data if isinstance(data, dict) else {}, str(payload.get("id") or ""))

    async def _beat(self, ws: aiohttp.ClientWebSocketResponse, interval: float) -> None:
        while not ws.closed:
            await asyncio.sleep(interval)
            try:
                await ws.send_json({"op": 1, "d": self.seq})
            except ConnectionError:
                return
