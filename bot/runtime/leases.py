"""A lease held by this process on a key of a channel — a chat whose updates it handles, a desk
conversation it serves — and renewed in the background while the work goes on.

Taking a lease succeeds only if nobody holds an unexpired one (`services.inbound_queue`); the
holder renews it every third of its lifetime, so a long piece of work (a big download, a
limiter's wait) keeps it, and a process that dies stops renewing: once the lease has expired,
another process takes the key over. `lost` says the lease expired under this holder and was
taken (its work must stop: another process goes on with it).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket

from services import inbound_queue
from services.db import Sessions

log = logging.getLogger(__name__)


def process_name() -> str:
    """This process, as the owner of its leases ("host:pid:random"): unique among the processes
    of a deployment, and readable in the database."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(3)}"


class Lease:
    def __init__(self, sessions: Sessions, *, channel: str, key: str, owner: str, seconds: float) -> None:
        self.sessions = sessions
        self.channel = channel
        self.key = key
        self.owner = owner
        self.seconds = seconds
        self.lost = False
        self._heartbeat: asyncio.Task[None] | None = None

    async def acquire(self) -> bool:
        """Take the key (and start renewing it); False if another process holds it. Raises if the
        database cannot be reached."""
        taken = await inbound_queue.acquire_lease(
            self.sessions, channel=self.channel, chat_key=self.key, owner=self.owner, seconds=self.seconds
        )
        if taken:
            self._heartbeat = asyncio.create_task(self._renew(), name=f"lease-{self.channel}-{self.key}")
        return taken

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.seconds / 3)
            try:
                held = await inbound_queue.renew_lease(
                    self.sessions,
                    channel=self.channel,
                    chat_key=self.key,
                    owner=self.owner,
                    seconds=self.seconds,
                )
            except Exception as exc:  # tried again at the next beat; the lease outlives a few
                log.warning("could not renew the lease of %s %s: %r", self.channel, self.key, exc)
                continue
            if not held:
                self.lost = True
                log.warning("the lease of %s %s was lost while working on it", self.channel, self.key)
                return

    async def release(self, *, look: bool = False) -> bool | None:
        """Stop renewing and let go of the key; None if that failed (the lease then expires by
        itself). With `look`, whether the chat has work waiting once let go of (one transaction
        with the release), else False."""
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None
        try:
            return await inbound_queue.release_lease(
                self.sessions, channel=self.channel, chat_key=self.key, owner=self.owner, look=look
            )
        except Exception as exc:
            log.warning("could not release the lease of %s %s: %r", self.channel, self.key, exc)
            return None
