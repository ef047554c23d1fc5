"""Long polling (the standalone runtime): getUpdates in a loop, each batch stored before the next
call confirms it.

Telegram forgets updates only when a later getUpdates passes an offset beyond them, and the
offset moves on only after the batch is stored; so a crash loses nothing — the next start gets
the batch again and the database recognises what it already has. If the database cannot store
a batch, the senders are told so and the batch is let go (a message then is to be sent again,
as the notice says), so that one outage does not hold every later message back.
"""

from __future__ import annotations

import asyncio
import logging

from bot.runtime.trouble import backoff_delay
from bot.telegram.api import ApiCall, Conflict, Transport, Unauthorized, api_error_text
from bot.telegram.processor import ALLOWED_UPDATES, TelegramIntake

log = logging.getLogger(__name__)


class Poller:
    def __init__(self, transport: Transport, intake: TelegramIntake, *, timeout: int) -> None:
        # The transport itself, not the retrying client: this loop is the retry.
        self.transport = transport
        self.intake = intake
        self.timeout = timeout
        self.offset: int | None = None

    async def run(self) -> None:
        failures = 0
        while True:
            try:
                params = {"offset": self.offset, "timeout": self.timeout, "allowed_updates": ALLOWED_UPDATES}
                raws = await self.transport.call(
                    ApiCall("getUpdates", params), request_timeout=self.timeout + 15
                )
            except Unauthorized:
                log.critical("Telegram refused the bot token (401): check SELLERBOT_TELEGRAM__TOKEN")
                raise
            except Conflict as exc:
                failures += 1
                log.error(
                    "getUpdates conflict (%s): is a webhook set or another poller running?", exc.description
                )
                await asyncio.sleep(backoff_delay(failures))
                continue
            except Exception as exc:
                failures += 1
                log.warning("getUpdates failed (%s); retrying", api_error_text(exc))
                await asyncio.sleep(backoff_delay(failures))
                continue
            failures = 0
            if not raws:
                continue
            try:
                await self.intake.accept(raws)
            except Exception as exc:
                self.intake.tell_users(raws, exc)
            self.offset = max(raw["update_id"] for raw in raws) + 1
