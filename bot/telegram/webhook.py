"""Webhook mode: an aiohttp server that Telegram (through a reverse proxy) posts updates to.

The secret-token header is compared as bytes in constant time (and a secret is required), and an
update is not handled during the request but stored (`TelegramIntake.accept`) and answered 200
once the row is committed. Telegram sends one chat's updates one after another, waiting for each
answer, so storing before answering keeps each chat's order even when the updates land on
different processes. If storing fails, the user is told and the update is answered 200 anyway
(see the polling module for why). The server needs no client library: an update is JSON.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any

from aiohttp import web

from bot.telegram.processor import TelegramIntake

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def derived_secret(token: str) -> str:
    """A webhook secret derived from the bot token: the same in every process, unguessable
    without the token, and within Telegram's alphabet."""
    return hmac.new(token.encode(), b"sellerbot telegram webhook", hashlib.sha256).hexdigest()


class StoringRequestHandler:
    def __init__(self, *, intake: TelegramIntake, secret_token: str) -> None:
        if not secret_token:
            raise ValueError("a webhook needs a secret token")
        self.intake = intake
        self._secret = secret_token.encode()

    def verify_secret(self, given: str) -> bool:
        # Bytes, so that a header with odd characters is a mismatch rather than a TypeError.
        return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), self._secret)

    async def handle(self, request: web.Request) -> web.Response:
        if not self.verify_secret(request.headers.get(SECRET_HEADER, "")):
            return web.Response(body="Unauthorized", status=401)
        try:
            raw: Any = await request.json(loads=json.loads)
        except ValueError:
            return web.json_response({"ok": False, "description": "not JSON"}, status=400)
        if not isinstance(raw, dict) or not isinstance(raw.get("update_id"), int):
            return web.json_response({"ok": False, "description": "not an update"}, status=400)
        try:
            await self.intake.accept([raw])
        except Exception as exc:
            self.intake.tell_users([raw], exc)
        return web.json_response({})


def build_web_app(*, intake: TelegramIntake, secret: str, path: str) -> web.Application:
    app = web.Application(client_max_size=4 * 1024 * 1024)
    app.router.add_post(path, StoringRequestHandler(intake=intake, secret_token=secret).handle)

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app.router.add_get("/healthz", health)
    return app
