"""Long polling (the standalone runtime, on aiogram): getUpdates in a loop, each batch stored before
the next call confirms it.

Telegram forgets updates only when a later getUpdates passes an offset beyond them, and the
offset moves on only after the batch is stored; so a crash loses nothing — the next start gets
the batch again and the database recognises what it already has. If the database cannot store
a batch, the senders are told so and the batch is let go (a message then is to be sent again,
as the notice says), so that one outage does not hold every later message back.
"""

from __future__ import annotations

import asyncio
import logging

from aiogram import Bot
from aiogram.exceptions import TelegramConflictError, TelegramUnauthorizedError
from aiogram.methods import GetUpdates

from bot.runtime.trouble import backoff_delay
from bot.telegram.api import api_error_text
from bot.telegram.processor import ALLOWED_UPDATES, TelegramIntake

log = logging.getLogger(__name__)


class Poller:
    def __init__(self, bot: Bot, intake: TelegramIntake, *, timeout: int) -> None:
        self.bot = bot
        self.intake = intake
        self.timeout = timeout
        self.offset: int | None = None

    async def run(self) -> None:
        failures = 0
        while True:
            try:
                updates = await self.bot(
                    GetUpdates(offset=self.offset, timeout=self.timeout, allowed_updates=ALLOWED_UPDATES),
                    request_timeout=self.timeout + 15,
                )
            except TelegramUnauthorizedError:
                log.critical("Telegram refused the bot token (401): check SELLERBOT_TELEGRAM__TOKEN")
                raise
            except TelegramConflictError as exc:
                failures += 1
                log.error(
                    "getUpdates conflict (%s): is a webhook set or another poller running?", exc.message
                )
                await asyncio.sleep(backoff_delay(failures))
                continue
            except Exception as exc:
                failures += 1
                log.warning("getUpdates failed (%s); retrying", api_error_text(exc))
                await asyncio.sleep(backoff_delay(failures))
                continue
            failures = 0
            if not updates:
                continue
            raws = [u.model_dump(mode="json", by_alias=True, exclude_none=True) for u in updates]
            try:
                await self.intake.accept(raws)
            except Exception as exc:
                self.intake.tell_users(raws, exc)
            self.offset = max(u.update_id for u in updates) + 1
