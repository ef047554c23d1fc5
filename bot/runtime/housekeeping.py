"""Housekeeping, a task of its own in every running channel: once an hour, forget the channel's
handled updates (kept long enough to recognise a redelivery) and the outbox rows it has sent
(their text is in the transcript), after as long; and delete what has expired —
links and codes, old idempotency keys, icons of unfinished flows (`services.housekeeping`).

Every process may do it: the deletes are idempotent. Errors are logged, never raised: a
database that is down now is cleaned at the next hour.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from bot.runtime.trouble import Outage
from services import inbound_queue as queue
from services import outbox
from services.db import Sessions
from services.housekeeping import purge_expired
from services.models import utcnow
from services.policy import Policy

log = logging.getLogger(__name__)

EVERY_SECONDS = 3600.0
# The first round waits a little: a start is busy enough.
FIRST_AFTER_SECONDS = 60.0


class Housekeeping:
    def __init__(
        self,
        sessions: Sessions,
        *,
        channel: str,
        keep_updates_hours: int,
        keep_expired_days: int,
        policy: Policy,
        every: float = EVERY_SECONDS,
        first_after: float = FIRST_AFTER_SECONDS,
    ) -> None:
        self.sessions = sessions
        self.channel = channel
        self.keep_updates_hours = keep_updates_hours
        self.keep_expired_days = keep_expired_days
        self.policy = policy
        self.every = every
        self.first_after = first_after
        self._outage = Outage(log)

    async def run(self) -> None:
        await asyncio.sleep(self.first_after)
        while True:
            await self.run_once()
            await asyncio.sleep(self.every)

    async def run_once(self) -> None:
        """One round (errors are logged, never raised)."""
        try:
            before = utcnow() - timedelta(hours=self.keep_updates_hours)
            pruned = await queue.prune_updates(self.sessions, channel=self.channel, before=before)
            if pruned:
                log.info("forgot %d handled %s update(s)", pruned, self.channel)
            sent = await outbox.prune_sent(self.sessions, channel=self.channel, before=before)
            if sent:
                log.info("forgot %d sent %s outbox row(s)", sent, self.channel)
            purged = await purge_expired(
                sessions=self.sessions, keep_days=self.keep_expired_days, now=utcnow(), policy=self.policy
            )
            if purged.total:
                log.info("deleted %d expired row(s): %s", purged.total, purged)
            self._outage.ok()
        except Exception as exc:
            self._outage.failed("deleting old updates and expired rows", exc)
