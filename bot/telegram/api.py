"""The Bot API as data, above any client library: a call is a method name and its parameters (as
the Bot API documents them; files to upload as `Upload`), its result the JSON Telegram answered,
and a refusal one of the errors below. A binding (aiogram, python-telegram-bot) supplies a
`Transport` that carries calls over HTTP and turns its library's errors into these.

`ApiClient` is what the rest of the layer calls: a 429 is obeyed (sleep `retry_after`, then the
same call again, as often as Telegram asks: a message is never dropped for flood control), and a
network error or a 5xx answer is retried with exponential backoff and jitter a limited number of
times.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.runtime.metrics import add_wait
from bot.runtime.trouble import backoff_delay

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Upload:
    """A file sent with a call (multipart)."""

    name: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class ApiCall:
    method: str
    params: dict[str, Any]

    @property
    def chat_id(self) -> int | str | None:
        return self.params.get("chat_id")

    def replace(self, **params: Any) -> ApiCall:
        return dataclasses.replace(self, params={**self.params, **params})


class ApiError(Exception):
    """Telegram (or the way to it) refused a call; `description` is safe to log (no URL)."""

    def __init__(self, method: str, description: str) -> None:
        super().__init__(f"{method}: {description}")
        self.method = method
        self.description = description

    def says(self, *phrases: str) -> bool:
        text = self.description.lower()
        return any(p in text for p in phrases)


class BadRequest(ApiError):
    """400: the call itself is wrong (a chat or message that is gone, a file too big, …)."""


class Forbidden(ApiError):
    """403: the chat does not accept the bot's messages (blocked, left, kicked)."""


class Unauthorized(ApiError):
    """401: the token is refused."""


class Conflict(ApiError):
    """409: a webhook is set, or another process polls."""


class MigrateToChat(ApiError):
    """A group became a supergroup: the same conversation under a new chat id."""

    def __init__(self, method: str, description: str, new_chat_id: int) -> None:
        super().__init__(method, description)
        self.new_chat_id = new_chat_id


class RetryAfter(ApiError):
    """429: flood control; the same call may go again after `seconds`."""

    def __init__(self, method: str, description: str, seconds: float) -> None:
        super().__init__(method, description)
        self.seconds = seconds


class NetworkError(ApiError):
    """Telegram could not be reached, or the connection broke."""


class ServerError(ApiError):
    """5xx: Telegram failed; the call may go again."""


class Transport(Protocol):
    """A client library carrying Bot API calls over HTTP."""

    async def call(self, call: ApiCall, *, request_timeout: float | None = None) -> Any:
        """The call's result as JSON (dicts, lists, scalars); raises an `ApiError` subclass."""
        ...

    def download(self, file_path: str, *, request_timeout: float) -> AsyncIterator[bytes]:
        """The file at `file_path` (from getFile), in chunks; raises `NetworkError`."""
        ...

    async def close(self) -> None:
        """Release what the transport opened itself (a host's own client stays open)."""
        ...


class ApiClient:
    """Calls with Telegram's 429s obeyed and network failures retried."""

    def __init__(self, transport: Transport, *, network_retries: int) -> None:
        self.transport = transport
        self.network_retries = network_retries

    async def __call__(self, call: ApiCall, *, request_timeout: float | None = None) -> Any:
        failures = 0
        while True:
            try:
                return await self.transport.call(call, request_timeout=request_timeout)
            except RetryAfter as exc:
                log.warning("Telegram asked to wait %ss before %s; waiting", exc.seconds, call.method)
                started = asyncio.get_running_loop().time()
                await asyncio.sleep(exc.seconds)
                add_wait(asyncio.get_running_loop().time() - started)
            except (NetworkError, ServerError) as exc:
                failures += 1
                if failures > self.network_retries:
                    raise
                delay = backoff_delay(failures)
                log.warning(
                    "%s failed (%s); retry %d/%d in %.1fs",
                    call.method,
                    type(exc).__name__,
                    failures,
                    self.network_retries,
                    delay,
                )
                await asyncio.sleep(delay)

    def download(self, file_path: str, *, request_timeout: float) -> AsyncIterator[bytes]:
        return self.transport.download(file_path, request_timeout=request_timeout)


def api_error_text(exc: BaseException) -> str:
    """An exception as text that is safe to log (no URL, hence no token)."""
    if isinstance(exc, ApiError):
        return f"{type(exc).__name__}: {exc.description}".strip().rstrip(":")
    return f"{type(exc).__name__}: {getattr(exc, 'message', '') or ''}".strip().rstrip(":")


def message_id_of(result: Any) -> int | None:
    """The id of the message a call made, if it made one."""
    if isinstance(result, dict) and isinstance(result.get("message_id"), int) and "chat" in result:
        return result["message_id"]
    return None
