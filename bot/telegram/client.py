"""The bot token: checked before anything starts, and kept out of every log.

The token is part of every Bot API URL, so an error message that quotes a URL would leak it:
`TokenFilter` removes it from every log record, whatever logged it.
"""

from __future__ import annotations

import logging
import re

from bot.config import TelegramSettings
from bot.telegram.api import api_error_text

log = logging.getLogger(__name__)

# What @BotFather gives: the bot's id, a colon, a secret (no spaces).
_TOKEN_RE = re.compile(r"^[0-9]+:\S+$")


class TelegramConfigError(Exception):
    """The Telegram settings cannot be used (no token, a malformed token)."""


def check_token(settings: TelegramSettings) -> str:
    """The configured token, or a TelegramConfigError saying what is wrong (never quoting it)."""
    token = settings.token.get_secret_value().strip()
    if not token:
        raise TelegramConfigError(
            "no Telegram bot token: set SELLERBOT_TELEGRAM__TOKEN (or [telegram] token in the config file)"
        )
    if not _TOKEN_RE.match(token):
        raise TelegramConfigError(
            "the Telegram bot token is malformed (expected <digits>:<letters>, as @BotFather gives it)"
        )
    return token


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


__all__ = [
    "TelegramConfigError",
    "TokenFilter",
    "api_error_text",
    "check_token",
    "protect_token_in_logs",
    "remove_token_filter",
]
