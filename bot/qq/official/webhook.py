"""The official API's webhook: the platform posts each event to the bot's HTTPS address (through a
reverse proxy, to `webhook_listen` and `webhook_path`).

- Every delivery is signed: Ed25519 over `X-Signature-Timestamp` + the raw body, with the key
  derived from the AppSecret. A delivery without a valid signature is refused (401) and changes
  nothing.
- The callback-URL validation (op 13) is answered with the plain token and its signature.
- An event (op 0) is stored (a redelivery of the same message is dropped there) and then
  acknowledged (op 12), so that a crash loses nothing. If it cannot be stored, the seller is told
  and it is acknowledged all the same (as on Telegram: one outage must not hold back every later
  message).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot.qq.events import QQMessage
from bot.qq.official import events
from bot.qq.official.signing import Signer

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
ACK = {"op": 12, "d": 0}


class OfficialReceiver:
    """The official API's events in, from the webhook (`handle`) or the gateway (`take`)."""

    def __init__(
        self,
        *,
        signer: Signer,
        accept: Callable[[list[QQMessage]], Awaitable[Any]],
        tell_users: Callable[[list[QQMessage], BaseException], None],
        acknowledge_press: Callable[[str], Awaitable[None]],
    ) -> None:
        self.signer = signer
        self.accept = accept
        self.tell_users = tell_users
        self.acknowledge_press = acknowledge_press
        self.refused = 0
        self._side_tasks: set[asyncio.Task[None]] = set()

    def install(self, app: web.Application, path: str) -> None:
        app.router.add_post(path, self.handle)

    def _signed(self, request: web.Request, body: bytes) -> bool:
        signature = request.headers.get("X-Signature-Ed25519", "")
        timestamp = request.headers.get("X-Signature-Timestamp", "")
        return bool(signature and timestamp) and self.signer.verify(
            timestamp=timestamp, body=body, signature=signature
        )

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.content.read(MAX_BODY_BYTES + 1)
        if len(body) > MAX_BODY_BYTES:
            return web.json_response({"error": "too large"}, status=413)
        try:
            payload = json.loads(body)
        except ValueError:
            return web.json_response({"error": "not JSON"}, status=400)
        if not isinstance(payload, dict):
            return web.json_response({"error": "not an event"}, status=400)
        op = payload.get("op")
        signed = self._signed(request, body)
        if op == 13:
            return self._validate(request, payload, signed)
        if not signed:
            self.refused += 1
            log.warning("QQ webhook: a delivery without a valid signature was refused")
            return web.json_response({"error": "bad signature"}, status=401)
        if op == 1:  # a heartbeat over HTTP: acknowledged with the last sequence number
            return web.json_response({"op": 11, "d": payload.get("d")})
        if op != 0:
            return web.json_response(ACK)
        data = payload.get("d") if isinstance(payload.get("d"), dict) else {}
        await self.take(str(payload.get("t") or ""), data, str(payload.get("id") or ""))
        return web.json_response(ACK)

    async def take(self, kind: str, data: dict[str, Any], event_id: str) -> None:
        """One event, from the webhook or the gateway: stored if it is a message for the bot (a
        button press is acknowledged at once, so the seller's client stops waiting)."""
        message = events.parse(kind, data, event_id=event_id)
        if message is None:
            return
        if message.interaction_id:
            self._spawn(self.acknowledge_press(message.interaction_id))
        try:
            await self.accept([message])
        except Exception as exc:
            self.tell_users([message], exc)

    def _validate(self, request: web.Request, payload: dict[str, Any], signed: bool) -> web.Response:
        # The answer proves the bot holds the secret; a validation that carries a signature must
        # carry a good one.
        if request.headers.get("X-Signature-Ed25519") and not signed:
            return web.json_response({"error": "bad signature"}, status=401)
        data = payload.get("d") if isinstance(payload.get("d"), dict) else {}
        plain_token, event_ts = data.get("plain_token"), data.get("event_ts")
        if not isinstance(plain_token, str) or not isinstance(event_ts, str):
            return web.json_response({"error": "not a validation request"}, status=400)
        log.info("QQ webhook: callback address validated")
        return web.json_response(self.signer.validation_answer(plain_token=plain_token, event_ts=event_ts))

    def _spawn(self, coro: Awaitable[None]) -> None:
        async def guarded() -> None:
            try:
                await coro
            except Exception as exc:
                log.warning("QQ: acknowledging a button press failed: %r", exc)

        task = asyncio.create_task(guarded())
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)
