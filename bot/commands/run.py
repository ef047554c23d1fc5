"""`sellerbot run telegram` and `sellerbot run qq`: serve the bot on a chat channel until SIGTERM."""

from __future__ import annotations

import asyncio
import logging

import click

from bot.app import configure_logging
from bot.commands.shared import fail, require_extra, with_settings
from bot.config import Settings

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
    require_extra("telegram", "sellerbot run telegram")
    if settings.redis.url:
        require_extra("redis", "[redis] url")
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
    await serve_until_signalled(
        lambda: start_telegram(settings, webhook=webhook),
        describe=lambda runtime: f"@{runtime.identity.username} ({mode})",
    )


@run.command("qq")
@with_settings
@click.option(
    "--protocol",
    type=click.Choice(["official", "onebot"]),
    default=None,
    help="The official QQ Bot API, or a OneBot v11 client (default: [qq] protocol).",
)
def qq(settings: Settings, protocol: str | None) -> None:
    """Serve the bot on QQ: the official QQ Bot API (webhook or gateway; SELLERBOT_QQ__APP_ID and
    SELLERBOT_QQ__APP_SECRET), or a OneBot v11 client such as NapCat connecting by reverse
    WebSocket. SIGTERM or Ctrl-C stops it after the messages being handled are answered."""
    if protocol is not None:
        settings.qq = settings.qq.model_copy(update={"protocol": protocol})
    require_extra("qq", "sellerbot run qq")
    if settings.redis.url:
        require_extra("redis", "[redis] url")
    from bot.qq.official.client import QQApiError, QQConfigError
    from bot.qq.official.gateway import GatewayError
    from bot.qq.runtime import check_qq

    try:
        check_qq(settings.qq)
    except QQConfigError as exc:
        fail(str(exc))
    configure_logging(settings)
    try:
        asyncio.run(_serve_qq(settings))
    except KeyboardInterrupt:
        pass
    except QQApiError as exc:
        fail(f"the QQ Bot API refused the bot: {exc} (check app_id and app_secret)")
    except GatewayError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot listen: {exc}")


async def _serve_qq(settings: Settings) -> None:
    from bot.qq.runtime import start_qq
    from bot.runtime.serve import serve_until_signalled

    await serve_until_signalled(lambda: start_qq(settings), describe=lambda _: f"QQ ({settings.qq.protocol})")
