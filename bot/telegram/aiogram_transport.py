"""The aiogram binding's part of every call: a Bot API call (`ApiCall`) carried by an aiogram `Bot`
— sellerbot's own (the standalone runtime) or a host's (inside someone's `Dispatcher`) — and
aiogram's errors told as the layer's (`bot.telegram.api`). Retries and the limiter are above it.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from typing import Any

import aiogram.methods
from aiogram import Bot
from aiogram.client.default import Default
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramConflictError,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response
from aiogram.types import BufferedInputFile
from aiohttp import ClientError

from bot.config import TelegramSettings
from bot.telegram import api
from bot.telegram.api import ApiCall, Upload
from bot.telegram.client import check_token

# aiogram's method classes by Bot API name ("sendMessage": SendMessage).
METHODS: dict[str, type[TelegramMethod[Any]]] = {
    cls.__api_method__: cls
    for cls in vars(aiogram.methods).values()
    if inspect.isclass(cls) and issubclass(cls, TelegramMethod) and hasattr(cls, "__api_method__")
}

# aiogram reads an answer with `Response[<the method's return type>]`: a method's own class would
# parse the result into aiogram's models, which the layer would only turn back into JSON. Each
# method is sent as a subclass whose return type is `Any`, so the result stays the JSON Telegram
# sent; the one response model `Response[Any]` is kept alive here (pydantic caches a generic model
# only while something refers to it, and building it takes about a millisecond).
_RAW_RESPONSE = Response[Any]
_RAW_METHODS: dict[str, type[TelegramMethod[Any]]] = {}


def raw_method_class(name: str) -> type[TelegramMethod[Any]]:
    made = _RAW_METHODS.get(name)
    if made is None:
        base = METHODS[name]
        made = _RAW_METHODS[name] = type(
            base.__name__, (base,), {"__returning__": Any, "__module__": __name__}
        )
    return made


# Per method, the parameters a bot's defaults fill in (parse_mode, link_preview_options, …), each
# set to None: sellerbot's calls mean what they say, whatever a host's `DefaultBotProperties` hold
# (a default parse mode would render a seller's text as markup).
UNSET_DEFAULTS: dict[str, dict[str, None]] = {
    name: {field: None for field, info in cls.model_fields.items() if isinstance(info.default, Default)}
    for name, cls in METHODS.items()
}


def as_method(call: ApiCall) -> TelegramMethod[Any]:
    params: dict[str, Any] = dict(UNSET_DEFAULTS[call.method])
    for key, value in call.params.items():
        upload = isinstance(value, Upload)
        params[key] = BufferedInputFile(value.data, filename=value.name) if upload else value
    return raw_method_class(call.method)(**params)


def layer_error(method: str, exc: TelegramAPIError) -> api.ApiError:
    """aiogram's exception as the layer's."""
    text = str(exc.message or "")
    if isinstance(exc, TelegramRetryAfter):
        return api.RetryAfter(method, text, float(exc.retry_after))
    if isinstance(exc, TelegramMigrateToChat):
        return api.MigrateToChat(method, text, exc.migrate_to_chat_id)
    if isinstance(exc, TelegramBadRequest | TelegramEntityTooLarge | TelegramNotFound):
        return api.BadRequest(method, text)
    if isinstance(exc, TelegramForbiddenError):
        return api.Forbidden(method, text)
    if isinstance(exc, TelegramUnauthorizedError):
        return api.Unauthorized(method, text)
    if isinstance(exc, TelegramConflictError):
        return api.Conflict(method, text)
    if isinstance(exc, TelegramServerError):
        return api.ServerError(method, text)
    if isinstance(exc, TelegramNetworkError):
        return api.NetworkError(method, text)
    return api.ApiError(method, text)


class AiogramTransport:
    """Bot API calls through an aiogram `Bot` (its session carries the HTTP)."""

    def __init__(self, bot: Bot, *, owns_session: bool) -> None:
        self.bot = bot
        self.owns_session = owns_session

    async def call(self, call: ApiCall, *, request_timeout: float | None = None) -> Any:
        method = as_method(call)
        try:
            result = await self.bot(method, request_timeout=int(request_timeout) if request_timeout else None)
        except TelegramAPIError as exc:
            raise layer_error(call.method, exc) from None
        return result

    async def download(self, file_path: str, *, request_timeout: float) -> AsyncIterator[bytes]:
        url = self.bot.session.api.file_url(self.bot.token, file_path)
        try:
            async for chunk in self.bot.session.stream_content(
                url=url, timeout=int(request_timeout), chunk_size=65536, raise_for_status=True
            ):
                yield chunk
        except ClientError as exc:
            # Never the URL: it holds the token.
            status = getattr(exc, "status", None)
            raise api.NetworkError(
                "download", f"{type(exc).__name__}{f' (HTTP {status})' if status else ''}"
            ) from None
        except TelegramAPIError as exc:
            raise layer_error("download", exc) from None

    async def close(self) -> None:
        if self.owns_session:
            await self.bot.session.close()


def make_bot(settings: TelegramSettings) -> Bot:
    """An aiogram Bot for the configured token and Bot API server."""
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.api_base_url))
    return Bot(token=check_token(settings), session=session)
