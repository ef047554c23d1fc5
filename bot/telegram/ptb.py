"""Sellerbot inside a host's python-telegram-bot (22) `Application`: `install(application, settings)`
adds one handler, in handler group `group`, and returns the `PtbSellerbot` that runs sellerbot's
service with the host's lifecycle.

Scope (`UpdateRouter.claims`): private chats (text, files, media, sellerbot's own commands, a
seller's edits), group messages that address the bot, callback queries whose data is sellerbot's
(`b:`), and everything from the agents' desk group when one is configured. Anything else is left
to the host's handlers. In its group the handler is tried after the host's handlers added before
it there (the first that matches takes the update); in a group of its own it sees every update of
its scope whatever the host's handlers do, and the host's handlers in other groups see them too.

The handler only stores a claimed update in sellerbot's inbox; sellerbot's chat workers answer it,
once, in order per chat. It runs blocking (`block=True` given explicitly, so a host's
`Defaults(block=False)` does not change it), and stores updates one at a time in the order they
reach it, so the order holds with `concurrent_updates` too (python-telegram-bot itself keeps no
order per chat).

Lifecycle: `post_init` and `post_stop` run only under `run_polling`/`run_webhook`, so `install`
chains sellerbot's start and stop onto them (the host's own callbacks still run first); a host that
drives the application itself (`async with application: await application.start()`, a custom
webhook server) calls `await sellerbot.start()` after `application.initialize()` and `await
sellerbot.stop()` before `application.shutdown()`, or uses `async with sellerbot:`.

A host's `Defaults` (parse_mode, link previews, …) do not reach sellerbot's calls
(`do_api_request` inserts none): a seller's text always goes as plain text.

What the host must set: `allowed_updates` (if it passes any to `run_polling`/`set_webhook`) must
include "message", "edited_message" and "callback_query". With `arbitrary_callback_data` on,
sellerbot's buttons still work: their data is read back from what python-telegram-bot could not
resolve. Rate limits: sellerbot's own limiter (`[telegram]` messages_per_second and the rest)
governs sellerbot's calls, and sellerbot obeys a 429 itself; a host's `AIORateLimiter` also sees
sellerbot's calls (they go through the host's bot) and can only delay them further — give it
`max_retries=0` (its default) so a 429 is retried in one place, sellerbot's.
"""

from __future__ import annotations

import datetime as dt
import logging
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Any

from telegram import Bot, InputFile, Update, error
from telegram.ext import Application, BaseHandler, InvalidCallbackData

from bot.app import App
from bot.config import Settings
from bot.telegram import api
from bot.telegram.api import ApiCall, Upload
from bot.telegram.service import TelegramService, start_service

log = logging.getLogger(__name__)

HostApplication = Application[Any, Any, Any, Any, Any, Any]

# `do_api_request` warns when a method has a helper of its own ("use Bot.send_message"): sellerbot
# sends every call the same way, on purpose. Only warnings raised from this module are silenced.
warnings.filterwarnings("ignore", message=r"Please use 'Bot\.", module=__name__)


def layer_error(method: str, exc: error.TelegramError) -> api.ApiError:
    """python-telegram-bot's exception as the layer's (BadRequest is a NetworkError there)."""
    text = exc.message
    if isinstance(exc, error.RetryAfter):
        wait = exc.retry_after
        seconds = wait.total_seconds() if isinstance(wait, dt.timedelta) else float(wait)
        return api.RetryAfter(method, text, seconds)
    if isinstance(exc, error.ChatMigrated):
        return api.MigrateToChat(method, text, exc.new_chat_id)
    if isinstance(exc, error.BadRequest | error.EndPointNotFound):
        return api.BadRequest(method, text)
    if isinstance(exc, error.Forbidden):
        return api.Forbidden(method, text)
    if isinstance(exc, error.InvalidToken):
        return api.Unauthorized(method, text)
    if isinstance(exc, error.Conflict):
        return api.Conflict(method, text)
    if isinstance(exc, error.NetworkError):  # TimedOut, 5xx, connection errors
        return api.NetworkError(method, text)
    return api.ApiError(method, text)


class PtbTransport:
    """Bot API calls through the host's python-telegram-bot `Bot` (its request objects carry the
    HTTP, and its rate limiter, if any, sees the calls)."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def call(self, call: ApiCall, *, request_timeout: float | None = None) -> Any:
        params = {
            key: InputFile(value.data, filename=value.name) if isinstance(value, Upload) else value
            for key, value in call.params.items()
        }
        timeouts = {"read_timeout": request_timeout} if request_timeout else {}
        try:
            return await self.bot.do_api_request(call.method, api_kwargs=params, **timeouts)
        except error.TelegramError as exc:
            raise layer_error(call.method, exc) from None

    async def download(self, file_path: str, *, request_timeout: float) -> AsyncIterator[bytes]:
        # python-telegram-bot reads a file whole; getFile's size was checked before (files.py).
        try:
            data = await self.bot.request.retrieve(
                f"{self.bot.base_file_url}/{file_path}", read_timeout=request_timeout
            )
        except error.TelegramError as exc:
            # Never the URL: it holds the token.
            raise api.NetworkError("download", type(exc).__name__) from None
        yield data

    async def close(self) -> None:
        """The host's bot stays open: the host shuts its application down."""


def _restore_callback_data(value: Any) -> Any:
    """An update as JSON with the callback data python-telegram-bot could not resolve (with
    `arbitrary_callback_data`, every string it did not make itself) back as the string sent."""
    if isinstance(value, InvalidCallbackData):
        return value.callback_data
    if isinstance(value, dict):
        return {key: _restore_callback_data(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_restore_callback_data(item) for item in value]
    return value


def update_json(update: Update) -> dict[str, Any]:
    """The update as the Bot API sent it."""
    return _restore_callback_data(update.to_dict())


class SellerbotHandler(BaseHandler[Update, Any, None]):
    """The one handler `install` adds: claims sellerbot's updates and stores them."""

    def __init__(self, sellerbot: PtbSellerbot) -> None:
        super().__init__(self._never_called, block=True)
        self.sellerbot = sellerbot

    @staticmethod
    async def _never_called(update: Update, context: Any) -> None:
        """`handle_update` is overridden: the update is stored, no callback runs."""

    def check_update(self, update: object) -> dict[str, Any] | None:
        service = self.sellerbot.service
        if service is None or not isinstance(update, Update):
            return None
        raw = update_json(update)
        return raw if service.router.claims(raw) else None

    async def handle_update(
        self, update: Update, application: Any, check_result: dict[str, Any], context: Any
    ) -> None:
        service = self.sellerbot.service
        if service is not None:
            await service.take(check_result)


class PtbSellerbot:
    """Sellerbot's service on a host's `Application`: `start()` after the application is
    initialised (its bot knows itself), `stop()` before it shuts down."""

    def __init__(self, application: HostApplication, settings: Settings, *, app: App | None) -> None:
        self.application = application
        self.settings = settings
        self.app = app
        self.service: TelegramService | None = None
        self.handler = SellerbotHandler(self)

    async def start(self) -> None:
        if self.service is None:
            transport = PtbTransport(self.application.bot)
            self.service = await start_service(self.settings, transport, app=self.app)

    async def stop(self) -> None:
        service, self.service = self.service, None
        if service is not None:
            await service.stop()

    async def __aenter__(self) -> PtbSellerbot:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


def _chained(
    first: Callable[[Any], Awaitable[None]] | None, then: Callable[[], Awaitable[None]]
) -> Callable[[Any], Awaitable[None]]:
    async def both(application: Any) -> None:
        if first is not None:
            await first(application)
        await then()

    return both


def install(
    application: HostApplication,
    settings: Settings,
    *,
    app: App | None = None,
    group: int = 0,
) -> PtbSellerbot:
    """Add sellerbot's handler to the host's application (in handler group `group`) and tie its
    service to `run_polling`/`run_webhook` (post_init starts it, post_stop stops it). `settings`:
    sellerbot's configuration (database, Redis, [telegram] limits and agents_chat_id, [handoff]);
    the token is the host's bot's. `app`: a composition root to share (left open at stop)."""
    sellerbot = PtbSellerbot(application, settings, app=app)
    application.add_handler(sellerbot.handler, group=group)
    application.post_init = _chained(application.post_init, sellerbot.start)
    application.post_stop = _chained(application.post_stop, sellerbot.stop)
    return sellerbot
