"""`sellerbot run telegram`: serve the bot on Telegram, by long polling or as a webhook server."""

from __future__ import annotations

import asyncio
import logging

import click

from bot.app import configure_logging
from bot.cli import Settings, fail, with_settings

log = logging.getLogger(__name__)


@click.group()
def run() -> None:
    """Serve the bot on a chat channel."""


@run.command("telegram")
@with_settings
@click.option(
    "--webhook",
    is_flag=True,
    help="Run an HTTP server for Telegram's webhook (behind a reverse proxy) instead of long polling.",
)
@click.option("--host", default=None, help="Webhook: address to listen on (default: [telegram] listen_host).")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Webhook: port (default: [telegram] listen_port).",
)
def telegram(settings: Settings, webhook: bool, host: str | None, port: int | None) -> None:
    """Serve the bot on Telegram. The token comes from SELLERBOT_TELEGRAM__TOKEN (or the config
    file); SIGTERM or Ctrl-C stops it after the messages being handled are answered."""
    from bot.telegram.client import TelegramConfigError, check_token, protect_token_in_logs

    overrides = {k: v for k, v in (("listen_host", host), ("listen_port", port)) if v is not None}
    if overrides:
        settings.telegram = settings.telegram.model_copy(update=overrides)
    try:
        check_token(settings.telegram)
    except TelegramConfigError as exc:
        fail(str(exc))
    configure_logging(settings)
    protect_token_in_logs(settings.telegram.token.get_secret_value())
    if settings.app.log_level != "DEBUG":
        # aiogram logs every update at INFO; the processor reports what matters.
        logging.getLogger("aiogram.event").setLevel(logging.WARNING)
    from bot.telegram.desk import DeskConfigError

    try:
        asyncio.run(_serve(settings, webhook=webhook))
    except KeyboardInterrupt:
        pass
    except DeskConfigError as exc:
        fail(str(exc))


async def _serve(settings: Settings, *, webhook: bool) -> None:
    from bot.runtime.serve import serve_until_signalled
    from bot.telegram.runtime import start_telegram

    mode = "webhook" if webhook else "long polling"
    await serve_until_signalled(lambda: start_telegram(settings, webhook=webhook), name=f"Telegram ({mode})")
