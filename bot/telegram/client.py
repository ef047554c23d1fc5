"""The aiogram client: the Bot API server it talks to, retries, and keeping the token secret.

Every call goes through `RetryRequests`, a request middleware of aiogram's session: a 429 is
obeyed (sleep `retry_after`, then the same call again, as often as Telegram asks: a message is
never dropped for flood control), and a network error or a 5xx answer is retried with
exponential backoff and jitter a limited number of times. getUpdates is left to the poller,
which has its own loop.

The token is part of every Bot API URL, so an error message that quotes a URL would leak it:
`TokenFilter` removes it from every log record, whatever logged it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramEntityTooLarge,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import GetUpdates, TelegramMethod
from aiogram.methods.base import Response, TelegramType
from aiogram.utils.token import TokenValidationError, validate_token

from bot.config import TelegramSettings
from bot.runtime.metrics import add_wait
from bot.runtime.trouble import backoff_delay

log = logging.getLogger(__name__)


class TelegramConfigError(Exception):
    """The Telegram settings cannot be used (no token, a malformed token)."""


# aiogram reads every answer with `Response[<the method's return type>]`, a pydantic generic model
# that pydantic caches only while something else refers to it: left alone, it is built again
# (a schema build, about a millisecond) every few calls. These references keep each one alive.
_RESPONSE_MODELS: dict[Any, type] = {}


def keep_response_model(method: TelegramMethod[Any]) -> None:
    returning = method.__returning__
    if returning not in _RESPONSE_MODELS:
        _RESPONSE_MODELS[returning] = Response[returning]  # type: ignore[valid-type]


class RetryRequests(BaseRequestMiddleware):
    def __init__(self, *, network_retries: int) -> None:
        self.network_retries = network_retries

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        keep_response_model(method)
        failures = 0
        while True:
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                log.warning(
                    "Telegram asked to wait %ss before %s; waiting", exc.retry_after, method.__api_method__
                )
                started = asyncio.get_running_loop().time()
                await asyncio.sleep(exc.retry_after)
                add_wait(asyncio.get_running_loop().time() - started)
            except (TelegramNetworkError, TelegramServerError) as exc:
                if isinstance(exc, TelegramEntityTooLarge) or isinstance(method, GetUpdates):
                    raise
                failures += 1
                if failures > self.network_retries:
                    raise
                delay = backoff_delay(failures)
                log.warning(
                    "%s failed (%s); retry %d/%d in %.1fs",
                    method.__api_method__,
                    type(exc).__name__,
                    failures,
                    self.network_retries,
                    delay,
                )
                await asyncio.sleep(delay)


def check_token(settings: TelegramSettings) -> str:
    """The configured token, or a TelegramConfigError saying what is wrong (never quoting it)."""
    token = settings.token.get_secret_value().strip()
    if not token:
        raise TelegramConfigError(
            "no Telegram bot token: set SELLERBOT_TELEGRAM__TOKEN (or [telegram] token in the config file)"
        )
    try:
        validate_token(token)
    except TokenValidationError:
        raise TelegramConfigError(
            "the Telegram bot token is malformed (expected <digits>:<letters>, as @BotFather gives it)"
        ) from None
    return token


def make_bot(settings: TelegramSettings) -> Bot:
    """An aiogram Bot for the configured token and Bot API server, with retries."""
    token = check_token(settings)
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.api_base_url))
    session.middleware(RetryRequests(network_retries=settings.network_retries))
    return Bot(token=token, session=session)


class TokenFilter(logging.Filter):
    """Replace the bot token in log messages and tracebacks. Attached to the root handlers, so
    it sees the records of every logger (aiogram's, aiohttp's, ours)."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.secrets = [s for s in {token, token.replace(":", "%3A")} if s]

    def _clean(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "<token>")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self._clean(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._clean(record.exc_text)
        return True


def protect_token_in_logs(token: str) -> TokenFilter:
    """Attach a TokenFilter to every handler of the root logger (where every logger's records
    end up): call it after logging is configured."""
    token_filter = TokenFilter(token)
    for handler in logging.getLogger().handlers:
        handler.addFilter(token_filter)
    return token_filter


def remove_token_filter(token_filter: TokenFilter) -> None:
    for handler in logging.getLogger().handlers:
        handler.removeFilter(token_filter)


def api_error_text(exc: BaseException) -> str:
    """An exception as text that is safe to log (no URL, hence no token)."""
    return f"{type(exc).__name__}: {getattr(exc, 'message', '') or ''}".strip().rstrip(":")


__all__ = [
    "RetryRequests",
    "TelegramConfigError",
    "TokenFilter",
    "api_error_text",
    "check_token",
    "make_bot",
    "protect_token_in_logs",
    "remove_token_filter",
]
