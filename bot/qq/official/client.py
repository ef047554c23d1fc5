"""The official QQ Bot API over HTTP: the access token, and the REST calls the adapter makes.

The token comes from the token endpoint (AppID and AppSecret) and lives about two hours; it is
fetched again when less than `REFRESH_BEFORE_SECONDS` remain (the platform hands out a new one in
the last minute and keeps the old one valid meanwhile), and at once when a call is refused for the
token. Every call carries `Authorization: QQBot <token>` and `X-Union-Appid`.

Errors are read by their code (`QQApiError.kind`): a duplicate msg_seq (the message went already),
an expired or used-up msg_id (the reply window closed), a URL the bot may not send, flood control
(waited out and tried again, a few times), a refused token (a new token, once). Network errors and
the platform's "try again" answers are retried with backoff a few times.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from typing import Any

import aiohttp

from bot.config import QQSettings
from bot.qq.files import read_limited
from bot.runtime.metrics import add_wait
from bot.runtime.trouble import backoff_delay

log = logging.getLogger(__name__)

REFRESH_BEFORE_SECONDS = 50.0
REQUEST_TIMEOUT_SECONDS = 15.0
RETRIES = 4

DUPLICATE = {40054005}
WINDOW_CLOSED = {40034005, 40034024, 40034128, 304103, 304026, 304027, 304028, 40034025, 40034026}
URL_NOT_ALLOWED = {40054010, 304003}
RATE_LIMITED = {22009, 40034100, 1100100, 1100308, 20028}
BAD_TOKEN = {11244, 11241, 11242, 11243}
TRY_AGAIN = {50055001, 50055002, 50055006, 304082, 304083}


class QQConfigError(Exception):
    """The [qq] settings cannot be used; the message says which key is missing or wrong."""


class QQApiError(Exception):
    def __init__(self, status: int, code: int, message: str, trace_id: str = "") -> None:
        self.status, self.code, self.message, self.trace_id = status, code, message, trace_id
        super().__init__(
            f"HTTP {status}, code {code}: {message}" + (f" (trace {trace_id})" if trace_id else "")
        )

    @property
    def kind(self) -> str:
        """What the refusal means to the adapter: "duplicate", "window_closed", "url_not_allowed",
        "rate_limited", "bad_token", "try_again" or "refused"."""
        if self.code in DUPLICATE:
            return "duplicate"
        if self.code in WINDOW_CLOSED:
            return "window_closed"
        if self.code in URL_NOT_ALLOWED:
            return "url_not_allowed"
        if self.code in RATE_LIMITED or self.status == 429:
            return "rate_limited"
        if self.code in BAD_TOKEN or self.status == 401:
            return "bad_token"
        if self.code in TRY_AGAIN or self.status >= 500:
            return "try_again"
        return "refused"


def check_settings(settings: QQSettings) -> None:
    """Say exactly what the official API is missing."""
    missing = []
    if not settings.app_id.strip():
        missing.append("app_id (SELLERBOT_QQ__APP_ID)")
    if not settings.app_secret.get_secret_value().strip():
        missing.append("app_secret (SELLERBOT_QQ__APP_SECRET)")
    if missing:
        raise QQConfigError(
            '[qq] protocol = "official" needs '
            + " and ".join(missing)
            + ": both are on the bot's page at q.qq.com"
        )


class OfficialClient:
    def __init__(self, settings: QQSettings) -> None:
        self.settings = settings
        self.app_id = settings.app_id.strip()
        self._secret = settings.app_secret.get_secret_value().strip()
        self._session: aiohttp.ClientSession | None = None
        self._token = ""
        self._expires = 0.0  # monotonic time
        self._token_lock = asyncio.Lock()
        self.calls = 0

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS)
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- the access token ---------------------------------------------------------------------
    async def token(self) -> str:
        if self._token and time.monotonic() < self._expires - REFRESH_BEFORE_SECONDS:
            return self._token
        async with self._token_lock:
            if self._token and time.monotonic() < self._expires - REFRESH_BEFORE_SECONDS:
                return self._token
            await self._fetch_token()
            return self._token

    def forget_token(self) -> None:
        self._expires = 0.0

    async def _fetch_token(self) -> None:
        body = {"appId": self.app_id, "clientSecret": self._secret}
        async with self.session.post(self.settings.token_url, json=body) as response:
            try:
                data = await response.json(content_type=None)
            except ValueError:
                data = {}
        token = data.get("access_token") if isinstance(data, dict) else None
        if response.status != 200 or not token:
            code = data.get("code", 0) if isinstance(data, dict) else 0
            message = data.get("message", "no access token") if isinstance(data, dict) else "not JSON"
            raise QQApiError(response.status, int(code or 0), f"token endpoint: {message}")
        # The platform sends expires_in as a string ("7200"); accept a number too.
        lifetime = float(data.get("expires_in") or 7200)
        self._token, self._expires = str(token), time.monotonic() + lifetime
        log.info("QQ access token obtained (valid %.0f s)", lifetime)

    # -- calls ----------------------------------------------------------------------------------
    async def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Make one call; returns the JSON answer. Raises QQApiError once the platform refused it
        for good, or after the retries of a flood control or a network error."""
        failures = 0
        token_refreshed = False
        while True:
            try:
                return await self._call_once(method, path, body)
            except QQApiError as exc:
                kind = exc.kind
                if kind == "bad_token" and not token_refreshed:
                    token_refreshed = True
                    self.forget_token()
                    continue
                if kind not in ("rate_limited", "try_again"):
                    raise
                failures += 1
                if failures > RETRIES:
                    raise
                delay = backoff_delay(failures) * (2 if kind == "rate_limited" else 1)
                log.warning("QQ %s %s: %s; again in %.1f s", method, path, exc, delay)
                started = time.monotonic()
                await asyncio.sleep(delay)
                add_wait(time.monotonic() - started)
            except (aiohttp.ClientError, TimeoutError) as exc:
                failures += 1
                if failures > RETRIES:
                    raise
                delay = backoff_delay(failures)
                log.warning("QQ %s %s failed (%r); again in %.1f s", method, path, exc, delay)
                await asyncio.sleep(delay)

    async def _call_once(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        headers = {"Authorization": f"QQBot {await self.token()}", "X-Union-Appid": self.app_id}
        url = f"{self.settings.api_base_url}{path}"
        self.calls += 1
        async with self.session.request(method, url, json=body, headers=headers) as response:
            try:
                data = await response.json(content_type=None) if response.status != 204 else {}
            except ValueError:
                data = None
            if 200 <= response.status < 300 and not (isinstance(data, dict) and data.get("code")):
                return data if data is not None else {}
            code = 0
            message = response.reason or ""
            if isinstance(data, dict):
                code = int(data.get("err_code") or data.get("code") or 0)
                message = str(data.get("message") or message)
            trace = response.headers.get("X-Tps-trace-ID", "")
            raise QQApiError(response.status, code, message, trace)

    # -- what the adapter calls -----------------------------------------------------------------
    async def send_message(self, kind: str, chat: str, body: dict[str, Any]) -> dict[str, Any]:
        where = "groups" if kind == "group" else "users"
        answer = await self.call("POST", f"/v2/{where}/{chat}/messages", body)
        return answer if isinstance(answer, dict) else {}

    async def upload_image(self, kind: str, chat: str, data: bytes) -> str:
        """Upload an image for a message to this chat; returns its file_info."""
        where = "groups" if kind == "group" else "users"
        body = {"file_type": 1, "file_data": base64.b64encode(data).decode(), "srv_send_msg": False}
        answer = await self.call("POST", f"/v2/{where}/{chat}/files", body)
        info = answer.get("file_info") if isinstance(answer, dict) else None
        if not info:
            raise QQApiError(200, 0, "the files endpoint returned no file_info")
        return str(info)

    async def ack_interaction(self, interaction_id: str, code: int = 0) -> None:
        await self.call("PUT", f"/interactions/{interaction_id}", {"code": code})

    async def gateway_url(self) -> str:
        answer = await self.call("GET", "/gateway")
        url = answer.get("url") if isinstance(answer, dict) else None
        if not url:
            raise QQApiError(200, 0, "the gateway endpoint returned no url")
        return str(url)

    async def download(self, url: str, *, max_bytes: int) -> bytes:
        """A seller's image, at most `max_bytes` (FileTooLarge beyond)."""
        async with self.session.get(url) as response:
            if response.status != 200:
                raise QQApiError(response.status, 0, f"image download: HTTP {response.status}")
            return await read_limited(response, max_bytes)
